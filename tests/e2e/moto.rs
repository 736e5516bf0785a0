//! The Route 53 and ELBv2 capabilities against `moto_server`, a third-party AWS
//! implementation, through `--cloud aws` and the standard endpoint and credential
//! environment variables: the same code path real AWS takes, on loopback.

use std::collections::HashMap;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::cloud::{aws, ok, results};
use crate::support::*;

/// A moto_server on a free loopback port, killed on drop.
struct Moto {
    child: Child,
    url: String,
}

impl Moto {
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server (pip install 'moto[server]') is required");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// What the aws CLI and runner need to talk to moto and nothing else.
    fn env(&self, home: &std::path::Path) -> HashMap<String, String> {
        [
            ("AWS_ENDPOINT_URL", self.url.as_str()),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            (
                "AWS_CONFIG_FILE",
                &home.join("aws-config").display().to_string(),
            ),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                &home.join("aws-credentials").display().to_string(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn route53_and_elbv2_capabilities_against_moto() {
    let moto = Moto::start();
    let s = Scratch::new();
    let env = moto.env(s.path());
    let zone = aws(
        &env,
        &[
            "route53",
            "create-hosted-zone",
            "--name",
            "moto.example",
            "--caller-reference",
            "m",
        ],
    );
    let zone_id = zone["HostedZone"]["Id"]
        .as_str()
        .unwrap()
        .trim_start_matches("/hostedzone/")
        .to_string();
    let vpc = aws(&env, &["ec2", "create-vpc", "--cidr-block", "10.0.0.0/16"]);
    let vpc_id = vpc["Vpc"]["VpcId"].as_str().unwrap().to_string();
    let subnets: Vec<String> = [("10.0.1.0/24", "us-east-1a"), ("10.0.2.0/24", "us-east-1b")]
        .iter()
        .map(|(cidr, az)| {
            let sn = aws(
                &env,
                &[
                    "ec2",
                    "create-subnet",
                    "--vpc-id",
                    &vpc_id,
                    "--cidr-block",
                    cidr,
                    "--availability-zone",
                    az,
                ],
            );
            sn["Subnet"]["SubnetId"].as_str().unwrap().to_string()
        })
        .collect();
    let lb = aws(
        &env,
        &[
            "elbv2",
            "create-load-balancer",
            "--name",
            "moto-lb",
            "--subnets",
            &subnets[0],
            &subnets[1],
        ],
    );
    let lb_arn = lb["LoadBalancers"][0]["LoadBalancerArn"]
        .as_str()
        .unwrap()
        .to_string();
    let lb_dns = lb["LoadBalancers"][0]["DNSName"]
        .as_str()
        .unwrap()
        .to_string();

    let script = format!(
        r#"[
 {{"call": "route53.list-hosted-zones-by-name", "args": ["moto.example"]}},
 {{"call": "route53.get-hosted-zone", "args": ["{zone_id}"]}},
 {{"call": "route53.change-resource-record-sets", "args": ["{zone_id}", "alias", [{{"action": "Upsert", "record_set": {{"name": "www.moto.example", "record_type": "A", "ttl": null, "values": [], "alias_target": {{"hosted_zone_id": "Z2BJ6XQ5FK7U4H", "dns_name": "a1234.awsglobalaccelerator.com", "evaluate_target_health": false}}, "set_identifier": null}}}}]]}},
 {{"call": "route53.get-change", "args": ["$2.id"]}},
 {{"call": "route53.list-resource-record-sets", "args": ["{zone_id}", null]}},
 {{"call": "elbv2.describe-load-balancers", "args": ["us-east-1", [], []]}},
 {{"call": "elbv2.add-tags", "args": ["us-east-1", ["{lb_arn}"], [{{"key": "owner", "value": "runner"}}]]}},
 {{"call": "elbv2.describe-tags", "args": ["us-east-1", ["{lb_arn}"]]}},
 {{"call": "elbv2.describe-listeners", "args": ["us-east-1", "{lb_arn}"]}},
 {{"call": "elbv2.describe-target-groups", "args": ["us-east-1", null, []]}},
 {{"call": "route53.get-hosted-zone", "args": ["ZNOSUCHZONE"]}}
]"#
    );
    s.write(
        "moto.toml",
        &format!(
            r#"name = "moto"

[[steps]]
id = "kit"
plugin = "{}"
with = {{ script = '''{script}''' }}

[steps.grants]
route53 = {{ zones = ["moto.example", "ZNOSUCHZONE"], records = ["*.moto.example"] }}
elbv2 = {{ regions = ["us-east-1"] }}
"#,
            fixture("cloudkit")
        ),
    );
    let out = s
        .runner(&["exec", "moto.toml", "--cloud", "aws", "--output", "json"])
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .envs(&env)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    assert!(
        stderr(&out).contains("--cloud aws: account 123456789012"),
        "{}",
        stderr(&out)
    );
    let r = results(&out, "kit");
    let ok = |i: usize| ok(&r, i);
    assert_eq!(ok(0)[0]["name"], "moto.example.");
    assert_eq!(ok(1)["id"], zone_id.as_str());
    assert_eq!(ok(3)["status"], "INSYNC");
    let alias = ok(4)
        .as_array()
        .unwrap()
        .iter()
        .find(|rr| rr["name"] == "www.moto.example.")
        .expect("the alias record");
    assert_eq!(alias["alias_target"]["hosted_zone_id"], "Z2BJ6XQ5FK7U4H");
    assert_eq!(ok(5)[0]["dns_name"], lb_dns.as_str());
    assert_eq!(
        ok(7)[0]["tags"],
        serde_json::json!([{"key": "owner", "value": "runner"}])
    );
    assert_eq!(ok(8), &serde_json::json!([]));
    assert_eq!(r[10]["error"]["kind"], "not-found", "{:#}", r[10]);
    // And moto itself holds the record the capability wrote.
    let records = aws(
        &env,
        &[
            "route53",
            "list-resource-record-sets",
            "--hosted-zone-id",
            &zone_id,
        ],
    );
    assert!(
        records
            .to_string()
            .contains("a1234.awsglobalaccelerator.com"),
        "{records}"
    );
}

#[test]
fn a_wrong_account_is_refused_before_any_step() {
    let s = Scratch::new();
    let _down = Down(&s);
    s.write(
        "wrong.toml",
        &format!(
            "name = \"wrong\"\n\n[aws]\naccount = \"111111111111\"\n\n[[steps]]\nid = \"who\"\nplugin = \"{}\"\nwith = {{ script = '[{{\"call\": \"identity.get-caller-identity\"}}]' }}\ngrants = {{ identity = true }}\n",
            fixture("cloudkit")
        ),
    );
    let out = s.run(&["exec", "wrong.toml"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "refusing to touch AWS account 000000000000: the workflow declares account 111111111111 ([aws] account)"
        ),
        "{}",
        stderr(&out)
    );
    assert!(s.runs().is_empty(), "no run may start");
}
