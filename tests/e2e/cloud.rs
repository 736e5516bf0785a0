//! Cloud capabilities end to end: a test plugin (`fixtures/cloudkit`) calls every
//! interface through `runner exec` against the sandbox, and the stock `kubectl` and
//! `aws` CLI check what it did; the grant matrix proves out-of-grant calls are denied,
//! audited, and never reach the servers (counted on the server side).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;

use serde_json::Value;

use crate::support::*;

/// Starts the scratch directory's sandbox with fast transitions; returns its env.
pub fn sandbox_up(s: &Scratch) -> std::collections::HashMap<String, String> {
    let up = s
        .runner(&["sandbox", "up", "--detach", "--delay-ms", "20"])
        .output()
        .unwrap();
    assert_eq!(code(&up), 0, "{}", stderr(&up));
    exports(&stdout(&s.run(&["sandbox", "env"])))
}

/// The stock aws CLI against the sandbox (or `env`'s endpoint), as JSON; never the
/// user's own profiles or credentials.
pub fn aws(env: &std::collections::HashMap<String, String>, args: &[&str]) -> Value {
    let out = isolated_aws_client("aws", env)
        .args(args)
        .args(["--output", "json"])
        .output()
        .expect("the aws CLI (pip install awscli) is required");
    assert!(
        out.status.success(),
        "aws {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    }
}

/// A plain HTTP GET on loopback, returning the body.
pub(crate) fn http_get(url: &str) -> String {
    let rest = url.strip_prefix("http://").unwrap();
    let (addr, path) = rest.split_once('/').map_or((rest, "/"), |(a, p)| (a, p));
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

/// Requests the sandbox's AWS endpoint and each cluster have served so far.
fn served(s: &Scratch) -> (u64, Vec<u64>) {
    let ep: Value = serde_json::from_str(
        &std::fs::read_to_string(s.state_dir().join("sandbox/endpoints.json")).unwrap(),
    )
    .unwrap();
    let aws: Value = serde_json::from_str(&http_get(&format!(
        "{}/_sandbox/health",
        ep["aws"].as_str().unwrap()
    )))
    .unwrap();
    let clusters = ep["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let v: Value = serde_json::from_str(&http_get(&format!(
                "{}/_sandbox/requests",
                c["url"].as_str().unwrap()
            )))
            .unwrap();
            v["requests"].as_u64().unwrap()
        })
        .collect();
    (aws["requests"].as_u64().unwrap(), clusters)
}

/// The results of the cloudkit step `step` from a `--output json` run.
pub fn results(out: &std::process::Output, step: &str) -> Vec<Value> {
    let events = events(&stdout(out));
    let fin = finished(&events, step);
    assert_eq!(fin["status"], "succeeded", "{fin:#}\n{}", stderr(out));
    fin["outputs"]["results"].as_array().unwrap().clone()
}

pub fn ok(results: &[Value], i: usize) -> &Value {
    let r = &results[i];
    assert!(r.get("ok").is_some(), "call {i} failed: {r:#}");
    &r["ok"]
}

const CLUSTERS: &str = r#"
[clusters.primary]
region = "us-east-1"

[clusters.secondary]
region = "us-east-2"
"#;

#[test]
fn every_interface_from_a_plugin_against_the_sandbox() {
    let s = Scratch::new();
    let env = sandbox_up(&s);
    let _down = Down(&s);
    // Made with the independent client, then read through the capabilities.
    let zone = aws(
        &env,
        &[
            "route53",
            "create-hosted-zone",
            "--name",
            "example.com",
            "--caller-reference",
            "t1",
        ],
    );
    let zone_id = zone["HostedZone"]["Id"]
        .as_str()
        .unwrap()
        .trim_start_matches("/hostedzone/")
        .to_string();
    let aws_url = env["AWS_ENDPOINT_URL"].clone();
    let probe_url = format!("{aws_url}/_sandbox/health");
    let script = format!(
        r#"[
 {{"call": "identity.get-caller-identity"}},
 {{"call": "kubernetes.apply", "args": ["primary", "default", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  labels: {{app: web}}\ndata:\n  colour: blue\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels: {{app: web}}\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    spec:\n      containers:\n      - name: web\n        image: nginx\n"]}},
 {{"call": "kubernetes.get", "args": [{{"cluster": "primary", "api_version": "v1", "kind": "ConfigMap", "namespace": "default", "name": "settings"}}]}},
 {{"call": "kubernetes.list", "args": ["primary", "v1", "ConfigMap", "default", "app=web"]}},
 {{"call": "kubernetes.patch", "args": [{{"cluster": "primary", "api_version": "v1", "kind": "ConfigMap", "namespace": "default", "name": "settings"}}, "Merge", "{{\"data\": {{\"colour\": \"green\"}}}}"]}},
 {{"call": "kubernetes.scale", "args": [{{"cluster": "primary", "api_version": "apps/v1", "kind": "Deployment", "namespace": "default", "name": "web"}}, 2]}},
 {{"call": "kubernetes.wait", "args": [{{"cluster": "primary", "api_version": "apps/v1", "kind": "Deployment", "namespace": "default", "name": "web"}}, {{"Jsonpath": ["{{.status.readyReplicas}}", "2"]}}, 30000]}},
 {{"call": "kubernetes.delete", "args": [{{"cluster": "primary", "api_version": "v1", "kind": "ConfigMap", "namespace": "default", "name": "settings"}}]}},
 {{"call": "kubernetes.wait", "args": [{{"cluster": "primary", "api_version": "v1", "kind": "ConfigMap", "namespace": "default", "name": "settings"}}, "Deleted", 10000]}},
 {{"call": "route53.list-hosted-zones-by-name", "args": ["example.com"]}},
 {{"call": "route53.get-hosted-zone", "args": ["{zone_id}"]}},
 {{"call": "route53.change-resource-record-sets", "args": ["{zone_id}", "test", [{{"action": "Upsert", "record_set": {{"name": "app.example.com", "record_type": "A", "ttl": 60, "values": ["192.0.2.10"], "alias_target": null, "set_identifier": null}}}}]]}},
 {{"call": "route53.get-change", "args": ["$11.id"]}},
 {{"call": "route53.list-resource-record-sets", "args": ["{zone_id}", null]}},
 {{"call": "global-accelerator.create-accelerator", "args": [{{"name": "kit", "ip_address_type": null, "enabled": true, "tags": [{{"key": "team", "value": "platform"}}], "idempotency_token": "kit-1"}}]}},
 {{"call": "global-accelerator.describe-accelerator", "args": ["$14.arn"]}},
 {{"call": "global-accelerator.list-accelerators"}},
 {{"call": "global-accelerator.create-listener", "args": [{{"accelerator_arn": "$14.arn", "protocol": "TCP", "port_ranges": [{{"from_port": 80, "to_port": 80}}], "client_affinity": null, "idempotency_token": "kit-l1"}}]}},
 {{"call": "global-accelerator.list-listeners", "args": ["$14.arn"]}},
 {{"call": "global-accelerator.create-endpoint-group", "args": [{{"listener_arn": "$17.arn", "region": "us-east-1", "endpoints": [], "traffic_dial_percentage": 100.0, "health_check": {{"protocol": "HTTP", "port": 80, "path": "/", "interval_seconds": 10, "threshold_count": 3}}, "idempotency_token": "kit-g1"}}]}},
 {{"call": "global-accelerator.update-endpoint-group", "args": [{{"endpoint_group_arn": "$19.arn", "endpoints": null, "traffic_dial_percentage": 25.0, "health_check": {{}}}}]}},
 {{"call": "global-accelerator.describe-endpoint-group", "args": ["$19.arn"]}},
 {{"call": "global-accelerator.list-endpoint-groups", "args": ["$17.arn"]}},
 {{"call": "global-accelerator.tag-resource", "args": ["$14.arn", [{{"key": "env", "value": "test"}}]]}},
 {{"call": "global-accelerator.untag-resource", "args": ["$14.arn", ["team"]]}},
 {{"call": "global-accelerator.list-tags-for-resource", "args": ["$14.arn"]}},
 {{"call": "global-accelerator.delete-endpoint-group", "args": ["$19.arn"]}},
 {{"call": "global-accelerator.delete-listener", "args": ["$17.arn"]}},
 {{"call": "global-accelerator.update-accelerator", "args": ["$14.arn", null, false]}},
 {{"call": "elbv2.describe-load-balancers", "args": ["us-east-1", [], ["kit-lb"]]}},
 {{"call": "elbv2.describe-target-groups", "args": ["us-east-1", null, []]}},
 {{"call": "elbv2.describe-target-health", "args": ["us-east-1", "$30.0.arn"]}},
 {{"call": "elbv2.describe-listeners", "args": ["us-east-1", "$29.0.arn"]}},
 {{"call": "elbv2.add-tags", "args": ["us-east-1", ["$29.0.arn"], [{{"key": "owner", "value": "kit"}}]]}},
 {{"call": "elbv2.remove-tags", "args": ["us-east-1", ["$29.0.arn"], ["owner"]]}},
 {{"call": "elbv2.describe-tags", "args": ["us-east-1", ["$29.0.arn"]]}},
 {{"call": "probe.fetch", "args": [{{"url": "{probe_url}", "method": "Get", "timeout_ms": 5000, "max_body": 8, "headers": []}}]}}
]"#
    );
    // ELBv2 objects come from the independent client too.
    let lb = aws(
        &env,
        &[
            "elbv2",
            "create-load-balancer",
            "--name",
            "kit-lb",
            "--subnets",
            "subnet-0a1",
            "subnet-0b2",
            "--region",
            "us-east-1",
        ],
    );
    let lb_arn = lb["LoadBalancers"][0]["LoadBalancerArn"]
        .as_str()
        .unwrap()
        .to_string();
    aws(
        &env,
        &[
            "elbv2",
            "create-target-group",
            "--name",
            "kit-tg",
            "--protocol",
            "HTTP",
            "--port",
            "80",
            "--vpc-id",
            "vpc-0a1",
            "--region",
            "us-east-1",
        ],
    );
    let wf = format!(
        r#"name = "cloudkit"
{CLUSTERS}
[[steps]]
id = "kit"
plugin = "{plugin}"
timeout = "2m"
with = {{ script = '''{script}''' }}

[steps.grants]
identity = true
kubernetes = {{ clusters = ["primary"], namespaces = ["default"], kinds = ["ConfigMap", "Deployment"], verbs = ["*"] }}
route53 = {{ zones = ["example.com"], records = ["*.example.com"] }}
global_accelerator = {{ accelerators = ["name:kit"], create = true }}
elbv2 = {{ regions = ["us-east-1"] }}
probe = {{ hosts = ["127.0.0.1"] }}
"#,
        plugin = fixture("cloudkit"),
    );
    s.write("kit.toml", &wf);
    let out = s.run(&["exec", "kit.toml", "--output", "json"]);
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    let r = results(&out, "kit");
    let errors: Vec<&Value> = r.iter().filter(|x| x.get("error").is_some()).collect();
    assert!(errors.is_empty(), "failed calls: {errors:#?}");

    assert_eq!(ok(&r, 0)["account"], "000000000000");
    let applied = ok(&r, 1).as_array().unwrap();
    assert_eq!(applied.len(), 2);
    assert_eq!(applied[0]["outcome"], "Created");
    assert_eq!(ok(&r, 2)["data"]["colour"], "blue");
    assert_eq!(ok(&r, 3).as_array().unwrap().len(), 1);
    assert_eq!(ok(&r, 4)["data"]["colour"], "green");
    assert_eq!(ok(&r, 6)["status"]["readyReplicas"], 2);
    assert_eq!(ok(&r, 7), &Value::Bool(true));
    assert_eq!(ok(&r, 9)[0]["id"], zone_id.as_str());
    assert_eq!(ok(&r, 10)["name"], "example.com.");
    assert!(
        ok(&r, 13)
            .as_array()
            .unwrap()
            .iter()
            .any(|rr| rr["name"] == "app.example.com." && rr["values"][0] == "192.0.2.10"),
        "{:#}",
        ok(&r, 13)
    );
    let acc = ok(&r, 14);
    assert_eq!(acc["name"], "kit");
    assert_eq!(ok(&r, 16).as_array().unwrap().len(), 1);
    assert_eq!(ok(&r, 18)[0]["protocol"], "TCP");
    assert_eq!(ok(&r, 21)["traffic_dial_percentage"], 25.0);
    assert_eq!(
        ok(&r, 25),
        &serde_json::json!([{"key": "env", "value": "test"}])
    );
    assert_eq!(ok(&r, 28)["enabled"], false);
    assert_eq!(ok(&r, 29)[0]["arn"], lb_arn.as_str());
    assert_eq!(ok(&r, 30)[0]["name"], "kit-tg");
    assert_eq!(ok(&r, 35)[0]["tags"], serde_json::json!([]));
    let probe = ok(&r, 36);
    assert_eq!(probe["status"], 200);
    assert_eq!(probe["body"].as_array().unwrap().len(), 8);
    assert_eq!(probe["truncated"], true);
    assert_eq!(
        format!("http://{}", probe["remote_address"].as_str().unwrap()),
        aws_url
    );

    // What the plugin did, seen by the stock clients.
    let accs = aws(
        &env,
        &[
            "globalaccelerator",
            "list-accelerators",
            "--region",
            "us-west-2",
        ],
    );
    assert_eq!(accs["Accelerators"][0]["Name"], "kit");
    assert_eq!(accs["Accelerators"][0]["Enabled"], false);
    let records = aws(
        &env,
        &[
            "route53",
            "list-resource-record-sets",
            "--hosted-zone-id",
            &zone_id,
        ],
    );
    assert!(records.to_string().contains("192.0.2.10"));
    let replicas = Command::new("kubectl")
        .args([
            "--context",
            "sandbox-primary",
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.spec.replicas}",
        ])
        .envs(&env)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&replicas.stdout), "2");
}

/// For each interface: an allowed call succeeds, and an out-of-grant call is denied
/// with a message naming the missing grant, audited, and sends nothing.
#[test]
fn grant_matrix_denies_and_audits_without_reaching_the_servers() {
    let s = Scratch::new();
    let env = sandbox_up(&s);
    let _down = Down(&s);
    let zone = aws(
        &env,
        &[
            "route53",
            "create-hosted-zone",
            "--name",
            "example.org",
            "--caller-reference",
            "m1",
        ],
    );
    let zone_id = zone["HostedZone"]["Id"]
        .as_str()
        .unwrap()
        .trim_start_matches("/hostedzone/")
        .to_string();
    let grants = format!(
        r#"
[steps.grants]
kubernetes = {{ clusters = ["primary"], namespaces = ["default"], kinds = ["ConfigMap"], verbs = ["get", "apply"] }}
route53 = {{ zones = ["{zone_id}"], records = ["allowed.example.org"] }}
global_accelerator = {{ accelerators = ["name:allowed"], create = true }}
elbv2 = {{ regions = ["us-east-1"] }}
probe = {{ hosts = ["127.0.0.1"] }}
"#
    );
    let record = |name: &str| {
        format!(
            r#"["{zone_id}", null, [{{"action": "Upsert", "record_set": {{"name": "{name}", "record_type": "TXT", "ttl": 60, "values": ["\"x\""], "alias_target": null, "set_identifier": null}}}}]]"#
        )
    };
    let cm = |ns: &str| {
        format!(
            r#"[{{"cluster": "primary", "api_version": "v1", "kind": "ConfigMap", "namespace": "{ns}", "name": "kube-root-ca.crt"}}]"#
        )
    };
    let acc = |name: &str| {
        format!(
            r#"[{{"name": "{name}", "ip_address_type": null, "enabled": true, "tags": [], "idempotency_token": "{name}"}}]"#
        )
    };
    let probe = |host: &str| {
        format!(
            r#"[{{"url": "http://{host}:9/", "method": "Head", "timeout_ms": 1000, "max_body": 0, "headers": []}}]"#
        )
    };
    let denied_script = format!(
        r#"[
 {{"call": "kubernetes.get", "args": {}}},
 {{"call": "kubernetes.apply", "args": ["primary", null, "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: escalate\nrules: []\n"]}},
 {{"call": "route53.change-resource-record-sets", "args": {}}},
 {{"call": "global-accelerator.create-accelerator", "args": {}}},
 {{"call": "elbv2.describe-load-balancers", "args": ["us-west-1", [], []]}},
 {{"call": "identity.get-caller-identity"}},
 {{"call": "probe.fetch", "args": {}}}
]"#,
        cm("kube-system"),
        record("other.example.org"),
        acc("other"),
        probe("127.0.0.2"),
    );
    let workflow = |script: &str| {
        format!(
            "name = \"matrix\"\n{CLUSTERS}\n[[steps]]\nid = \"kit\"\nplugin = \"{}\"\nwith = {{ script = '''{script}''' }}\n{grants}",
            fixture("cloudkit")
        )
    };
    s.write("denied.toml", &workflow(&denied_script));
    let before = served(&s);
    let out = s.run(&["exec", "denied.toml", "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(served(&s), before, "a denied call reached a server");
    let r = results(&out, "kit");
    let messages: Vec<&str> = r
        .iter()
        .map(|x| {
            assert_eq!(x["error"]["kind"], "denied", "{x:#}");
            x["error"]["message"].as_str().unwrap()
        })
        .collect();
    assert_eq!(
        messages,
        [
            "no grant allows `get` of ConfigMap in namespace `kube-system` of cluster `primary` (grants.kubernetes)",
            "no grant allows `apply` of ClusterRole of cluster `primary` (grants.kubernetes)",
            &format!(
                "no grant allows record `other.example.org` in hosted zone `{zone_id}` (grants.route53)"
            ),
            "no grant allows creating accelerator `other` (grants.global_accelerator with `create = true`)",
            "no grant allows Elastic Load Balancing in region `us-west-1` (grants.elbv2)",
            "no grant allows reading the caller identity (grants.identity)",
            "no grant allows probing host `127.0.0.2` (grants.probe)",
        ]
    );
    let run = s.runs().pop().unwrap();
    let audit = std::fs::read_to_string(run.join("audit.ndjson")).unwrap();
    for (interface, function) in [
        ("kubernetes", "get"),
        ("kubernetes", "apply"),
        ("route53", "change-resource-record-sets"),
        ("global-accelerator", "create-accelerator"),
        ("elbv2", "describe-load-balancers"),
        ("identity", "get-caller-identity"),
        ("probe", "fetch"),
    ] {
        assert!(
            audit.lines().any(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                v["interface"] == interface
                    && v["function"] == function
                    && v["outcome"]
                        .as_str()
                        .unwrap()
                        .starts_with("denied: no grant allows")
            }),
            "no denied audit record for {interface}.{function} in\n{audit}"
        );
    }

    // The same grants allow the in-grant calls, and those do reach the servers.
    let allowed_script = format!(
        r#"[
 {{"call": "kubernetes.apply", "args": ["primary", null, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kube-root-ca.crt\ndata: {{}}\n"]}},
 {{"call": "kubernetes.get", "args": {}}},
 {{"call": "route53.change-resource-record-sets", "args": {}}},
 {{"call": "global-accelerator.create-accelerator", "args": {}}},
 {{"call": "elbv2.describe-load-balancers", "args": ["us-east-1", [], []]}},
 {{"call": "probe.fetch", "args": [{{"url": "{}/_sandbox/health", "method": "Get", "timeout_ms": 5000, "max_body": 64, "headers": []}}]}}
]"#,
        cm("default"),
        record("allowed.example.org"),
        acc("allowed"),
        env["AWS_ENDPOINT_URL"],
    );
    s.write("allowed.toml", &workflow(&allowed_script));
    let out = s.run(&["exec", "allowed.toml", "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let r = results(&out, "kit");
    for (i, x) in r.iter().enumerate() {
        assert!(x.get("ok").is_some(), "allowed call {i} failed: {x:#}");
    }
    let after = served(&s);
    assert!(
        after.0 > before.0 && after.1[0] > before.1[0],
        "{before:?} -> {after:?}"
    );
}
