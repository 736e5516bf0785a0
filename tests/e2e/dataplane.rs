//! The sandbox's data plane through stock clients only: `dig` resolves the workflow's
//! record through the sandbox's DNS, `curl` sends traffic through the accelerator to the
//! ALB to the pods; the primary scaled to zero fails over to the standby region within
//! the configured detection time, and scaling back fails back; dials split traffic, and
//! weight and dial changes move it in proportion; the failover drill measures it;
//! addresses survive `sandbox down` and `up`.

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cloud::{aws, sandbox_up};
use crate::support::*;

/// The reference workflows with the sample app's health checks made fast (5 s x 2), so
/// a failover takes seconds rather than the ALB defaults' 30.
fn fast_copy(s: &Scratch, workflow: &str) -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../workflows");
    let app = std::fs::read_to_string(dir.join("sample-app.yaml")).unwrap();
    let fast = app.replace(
        "    alb.ingress.kubernetes.io/target-type: ip\n",
        "    alb.ingress.kubernetes.io/target-type: ip\n    alb.ingress.kubernetes.io/healthcheck-interval-seconds: \"5\"\n    alb.ingress.kubernetes.io/healthy-threshold-count: \"2\"\n    alb.ingress.kubernetes.io/unhealthy-threshold-count: \"2\"\n",
    );
    assert_ne!(fast, app, "the sample app's Ingress annotations moved");
    s.write("sample-app.yaml", &fast);
    for wf in [
        "active-failover.toml",
        "active-active.toml",
        "failover-drill.toml",
    ] {
        s.write(wf, &std::fs::read_to_string(dir.join(wf)).unwrap());
    }
    workflow.to_string()
}

/// A running sandbox with `workflow` (fast copy) deployed by `runner exec`; its env.
fn deployed(s: &Scratch, workflow: &str, vars: &[&str]) -> HashMap<String, String> {
    let env = sandbox_up(s);
    let wf = fast_copy(s, workflow);
    let mut args = vec!["exec", wf.as_str()];
    for v in vars {
        args.extend(["--var", v]);
    }
    let out = s.run(&args);
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    env
}

fn dns_port(s: &Scratch) -> String {
    let ep: Value = serde_json::from_str(
        &std::fs::read_to_string(s.state_dir().join("sandbox/endpoints.json")).unwrap(),
    )
    .unwrap();
    ep["dataplane"]["dns"]
        .as_str()
        .unwrap()
        .rsplit_once(':')
        .unwrap()
        .1
        .to_string()
}

/// `dig +short` through the sandbox's DNS server.
pub(crate) fn dig(s: &Scratch, name: &str) -> Vec<String> {
    let out = Command::new("dig")
        .args(["@127.0.0.1", "-p", &dns_port(s), "+short", name])
        .output()
        .expect("dig is required (apt-get install bind9-dnsutils)");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect()
}

/// One request on a new connection with the stock curl: (HTTP status, body).
fn curl(url: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-m", "3", "-w", "\n%{http_code}", url])
        .output()
        .expect("curl is required");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "000"));
    (code.parse().unwrap_or(0), body.to_string())
}

fn region(body: &str) -> Option<&str> {
    let zone = body.strip_prefix("Welcome to ")?;
    Some(&zone[..zone.len() - 1])
}

/// The share of `n` requests to `url` answered by each region (errors as "error").
pub(crate) fn regions(url: &str, n: usize) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for _ in 0..n {
        let (code, body) = curl(url);
        let key = match (code, region(&body)) {
            (200, Some(r)) => r.to_string(),
            _ => "error".to_string(),
        };
        *seen.entry(key).or_default() += 1;
    }
    seen
}

pub(crate) fn kubectl(env: &HashMap<String, String>, args: &[&str]) {
    let out = Command::new("kubectl")
        .args(args)
        .envs(env)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Scales the sample app in the primary cluster, with the stock kubectl.
pub(crate) fn scale_primary(env: &HashMap<String, String>, replicas: u32) {
    let replicas = format!("--replicas={replicas}");
    kubectl(
        env,
        &[
            "--context",
            "sandbox-primary",
            "scale",
            "deployment",
            "py-az",
            &replicas,
        ],
    );
}

/// Waits until every one of 5 requests in a row is answered by `want`; returns how long.
fn until_region(url: &str, want: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    let mut run = 0;
    while run < 5 {
        assert!(
            start.elapsed() < limit,
            "no steady answers from {want} within {limit:?}"
        );
        let (code, body) = curl(url);
        if code == 200 && region(&body) == Some(want) {
            run += 1;
        } else {
            run = 0;
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    start.elapsed()
}

#[test]
fn traffic_fails_over_and_back_through_the_accelerator() {
    let s = Scratch::new();
    let _down = Down(&s);
    let env = deployed(&s, "active-failover.toml", &[]);

    let ips = dig(&s, "multi-region.example.com");
    assert_eq!(ips.len(), 2, "{ips:?}");
    let url = format!("http://{}/", ips[0]);
    let seen = regions(&url, 20);
    assert_eq!(seen.get("us-east-1"), Some(&20), "{seen:?}");

    // The primary ALB, reached directly through its own DNS name.
    let alb_host = Command::new("kubectl")
        .args([
            "--context",
            "sandbox-primary",
            "get",
            "ingress",
            "py-az-ingress",
            "-o",
            "jsonpath={.status.loadBalancer.ingress[0].hostname}",
        ])
        .envs(&env)
        .output()
        .unwrap();
    let alb_ip = dig(&s, &String::from_utf8_lossy(&alb_host.stdout));
    assert_eq!(alb_ip.len(), 1, "{alb_ip:?}");
    let alb_url = format!("http://{}/", alb_ip[0]);
    assert_eq!(curl(&alb_url).0, 200);

    scale_primary(&env, 0);
    let started = Instant::now();
    let failover = until_region(&url, "us-east-2", Duration::from_secs(40));
    let (code502, body) = curl(&alb_url);
    assert_eq!(code502, 502, "{body}");
    assert!(body.contains("502 Bad Gateway"), "{body}");
    // Detection is interval x unhealthy threshold (10 s); two failed checks need at
    // least one interval after the pod went; allow one more interval above.
    assert!(
        (Duration::from_secs(4)..=Duration::from_secs(16)).contains(&failover),
        "failover took {failover:?}"
    );
    eprintln!(
        "failover after {:?} (detection floor 10 s)",
        started.elapsed()
    );

    scale_primary(&env, 1);
    let failback = until_region(&url, "us-east-1", Duration::from_secs(40));
    eprintln!("failback after {failback:?}");
}

#[test]
fn dials_split_traffic_between_regions() {
    let s = Scratch::new();
    let _down = Down(&s);
    // The clients' home region is us-east-1: a 50% dial there sends about half of its
    // connections on to us-east-2 (dial 100).
    deployed(&s, "active-active.toml", &["primary_dial=50"]);
    let ips = dig(&s, "active-active.example.com");
    let url = format!("http://{}/", ips[0]);
    let n = 200;
    let seen = regions(&url, n);
    let primary = *seen.get("us-east-1").unwrap_or(&0);
    let secondary = *seen.get("us-east-2").unwrap_or(&0);
    assert_eq!(primary + secondary, n, "{seen:?}");
    // Binomial(200, 0.5): 5 standard deviations is about ±35.
    assert!((65..=135).contains(&primary), "{seen:?}");
}

#[test]
fn the_drill_measures_failover_and_failback() {
    let s = Scratch::new();
    let _down = Down(&s);
    deployed(&s, "active-failover.toml", &[]);
    let out = s.run(&["exec", "failover-drill.toml", "--output", "json"]);
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    let events = events(&stdout(&out));
    let o = &finished(&events, "drill")["outputs"];
    // Two failed checks 5 s apart, both after the pod went: at least one interval (less
    // the second or so between the scale and the drill's clock, and the 100 ms ticks),
    // at most the detection time (5 s x 2) plus one interval.
    let failover = o["failover_ms"].as_u64().unwrap();
    assert!((4_000..=16_000).contains(&failover), "{o:#}");
    assert!(o["failback_ms"].as_u64().unwrap() <= 20_000, "{o:#}");
    assert!(o["failover_requests"].as_u64().unwrap() > 0);
    eprintln!("drill: {o}");
}

#[test]
fn addresses_survive_down_and_up() {
    let s = Scratch::new();
    let _down = Down(&s);
    deployed(&s, "active-failover.toml", &[]);
    let before = dig(&s, "multi-region.example.com");
    let port = dns_port(&s);
    assert_eq!(code(&s.run(&["sandbox", "down"])), 0);
    let up = s.runner(&["sandbox", "up", "--detach"]).output().unwrap();
    assert_eq!(code(&up), 0, "{}", stderr(&up));
    assert_eq!(dns_port(&s), port);
    assert_eq!(dig(&s, "multi-region.example.com"), before);
    let url = format!("http://{}/", before[0]);
    until_region(&url, "us-east-1", Duration::from_secs(30));
}

/// One request on a new connection with the stock curl: (which ALB answered, from the
/// `x-sandbox-alb` header, and the region of the answer).
fn curl_alb(url: &str) -> (String, String) {
    let out = Command::new("curl")
        .args(["-s", "-i", "-m", "3", url])
        .output()
        .expect("curl is required");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let alb = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("x-sandbox-alb")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| "none".into());
    let region = region(body).unwrap_or("error").to_string();
    (alb, region)
}

/// Asserts that `hits` of `n` fresh connections is within 4 standard deviations of a
/// Binomial(n, p) mean: a correct router fails it about once in 16,000 runs, a
/// share off by 10 points (at n = 200) fails it nearly always.
fn assert_share(what: &str, hits: usize, n: usize, p: f64) {
    let mean = n as f64 * p;
    let sd = (n as f64 * p * (1.0 - p)).sqrt();
    assert!(
        (hits as f64 - mean).abs() <= 4.0 * sd,
        "{what}: {hits} of {n}, expected {mean:.0} ± {:.0} (4 sd)",
        4.0 * sd
    );
    eprintln!(
        "{what}: {hits} of {n} (expected {mean:.0} ± {:.0})",
        4.0 * sd
    );
}

/// The accelerator's endpoint group in `region`.
fn endpoint_group(env: &HashMap<String, String>, region: &str) -> String {
    let ga = |args: &[&str]| {
        let mut all = vec!["globalaccelerator", "--region", "us-west-2"];
        all.extend(args);
        aws(env, &all)
    };
    let acc = ga(&["list-accelerators"])["Accelerators"][0]["AcceleratorArn"]
        .as_str()
        .unwrap()
        .to_string();
    let listener =
        ga(&["list-listeners", "--accelerator-arn", &acc])["Listeners"][0]["ListenerArn"]
            .as_str()
            .unwrap()
            .to_string();
    let groups = ga(&["list-endpoint-groups", "--listener-arn", &listener]);
    groups["EndpointGroups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["EndpointGroupRegion"] == region)
        .unwrap_or_else(|| panic!("no {region} group: {groups}"))["EndpointGroupArn"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A second Ingress in the primary cluster: a second ALB in us-east-1 in front of the
/// same pods, for two endpoints in one group.
const SECOND_INGRESS: &str = r#"
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: py-az-second
  annotations:
    alb.ingress.kubernetes.io/scheme: internet-facing
    alb.ingress.kubernetes.io/target-type: ip
spec:
  ingressClassName: alb
  rules:
  - http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: py-az, port: {number: 80}}}}
"#;

#[test]
fn weight_and_dial_changes_move_traffic_in_proportion() {
    let s = Scratch::new();
    let _down = Down(&s);
    let env = deployed(&s, "active-failover.toml", &[]);
    let ips = dig(&s, "multi-region.example.com");
    let url = format!("http://{}/", ips[0]);

    // The second ALB, made by the controller stand-in from a second Ingress.
    s.write("second.yaml", SECOND_INGRESS);
    let second_yaml = s.path().join("second.yaml");
    kubectl(
        &env,
        &[
            "--context",
            "sandbox-primary",
            "apply",
            "-f",
            second_yaml.to_str().unwrap(),
        ],
    );
    let lbs_in = |region: &str| {
        aws(
            &env,
            &["elbv2", "describe-load-balancers", "--region", region],
        )["LoadBalancers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["LoadBalancerArn"].as_str().unwrap().to_string(),
                    l["LoadBalancerName"].as_str().unwrap().to_string(),
                )
            })
            .collect::<Vec<_>>()
    };
    let start = Instant::now();
    let lbs = loop {
        let lbs = lbs_in("us-east-1");
        if lbs.len() == 2 {
            break lbs;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{lbs:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let arns: Vec<&str> = lbs.iter().map(|(a, _)| a.as_str()).collect();
    aws(
        &env,
        &[
            &[
                "elbv2",
                "wait",
                "load-balancer-available",
                "--region",
                "us-east-1",
            ],
            &["--load-balancer-arns"][..],
            &arns[..],
        ]
        .concat(),
    );
    let group = endpoint_group(&env, "us-east-1");
    let first_arn = aws(
        &env,
        &[
            "globalaccelerator",
            "--region",
            "us-west-2",
            "describe-endpoint-group",
            "--endpoint-group-arn",
            &group,
        ],
    )["EndpointGroup"]["EndpointDescriptions"][0]["EndpointId"]
        .as_str()
        .unwrap()
        .to_string();
    let (first, second) = if lbs[0].0 == first_arn {
        (lbs[0].clone(), lbs[1].clone())
    } else {
        (lbs[1].clone(), lbs[0].clone())
    };
    assert_eq!(first.0, first_arn);

    // Weights 192 and 64 in the primary group (dial 100): 3 to 1.
    aws(
        &env,
        &[
            "globalaccelerator",
            "--region",
            "us-west-2",
            "update-endpoint-group",
            "--endpoint-group-arn",
            &group,
            "--endpoint-configurations",
            &format!(
                "EndpointId={},Weight=192,ClientIPPreservationEnabled=true",
                first.0
            ),
            &format!(
                "EndpointId={},Weight=64,ClientIPPreservationEnabled=true",
                second.0
            ),
        ],
    );
    // New connections route on a snapshot at most one 100 ms tick old; the new
    // endpoint reads INITIAL for the sandbox's 20 ms transition. Wait for its first answer.
    let start = Instant::now();
    while curl_alb(&url).0 != second.1 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the second ALB never answered"
        );
    }
    let n = 200;
    let answers: Vec<(String, String)> = (0..n).map(|_| curl_alb(&url)).collect();
    let by_first = answers.iter().filter(|(alb, _)| *alb == first.1).count();
    let by_second = answers.iter().filter(|(alb, _)| *alb == second.1).count();
    assert_eq!(by_first + by_second, n, "{answers:?}");
    assert!(answers.iter().all(|(_, r)| r == "us-east-1"), "{answers:?}");
    assert_share("weights 192:64, to the first ALB", by_first, n, 0.75);

    // Dial 25 on the primary group: a quarter stays in us-east-1, the rest goes to the
    // dial-0 us-east-2 group (what a dial turns away goes to other regions).
    aws(
        &env,
        &[
            "globalaccelerator",
            "--region",
            "us-west-2",
            "update-endpoint-group",
            "--endpoint-group-arn",
            &group,
            "--traffic-dial-percentage",
            "25",
        ],
    );
    std::thread::sleep(Duration::from_millis(500));
    let seen = regions(&url, n);
    let primary = *seen.get("us-east-1").unwrap_or(&0);
    let secondary = *seen.get("us-east-2").unwrap_or(&0);
    assert_eq!(primary + secondary, n, "{seen:?}");
    assert_share("dial 25, to us-east-1", primary, n, 0.25);
}
