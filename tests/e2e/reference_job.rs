//! The reference job, `workflows/active-failover.toml`, end to end on the sandbox: exec,
//! every resource checked with the stock `kubectl` and `aws` CLI (not through runner),
//! a re-run that changes nothing, destroy (twice) leaving nothing behind; a kill -9 in
//! the middle of exec that the next exec converges from; and the bad inputs users hit.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cloud::{aws, sandbox_up};
use crate::support::*;

pub(crate) fn workflows_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../workflows")
}

/// The shipped workflow and its app manifest, copied into the scratch directory with
/// `edit` applied to the workflow text.
pub(crate) fn reference_copy(s: &Scratch, edit: impl Fn(String) -> String) -> String {
    let text = std::fs::read_to_string(workflows_dir().join("active-failover.toml")).unwrap();
    let app = std::fs::read_to_string(workflows_dir().join("sample-app.yaml")).unwrap();
    s.write("sample-app.yaml", &app);
    s.write("active-failover.toml", &edit(text));
    "active-failover.toml".to_string()
}

fn kubectl(env: &HashMap<String, String>, context: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new("kubectl")
        .arg("--context")
        .arg(context)
        .args(args)
        .envs(env)
        .output()
        .expect("kubectl is required");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

pub(crate) fn accelerators(env: &HashMap<String, String>) -> Vec<Value> {
    aws(
        env,
        &[
            "globalaccelerator",
            "list-accelerators",
            "--region",
            "us-west-2",
        ],
    )["Accelerators"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn load_balancers(env: &HashMap<String, String>, region: &str) -> Vec<Value> {
    aws(
        env,
        &["elbv2", "describe-load-balancers", "--region", region],
    )["LoadBalancers"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn zone_id(env: &HashMap<String, String>, domain: &str) -> Option<String> {
    let zones = aws(
        env,
        &["route53", "list-hosted-zones-by-name", "--dns-name", domain],
    );
    zones["HostedZones"]
        .as_array()?
        .iter()
        .find(|z| z["Name"] == format!("{domain}."))
        .map(|z| {
            z["Id"]
                .as_str()
                .unwrap()
                .trim_start_matches("/hostedzone/")
                .to_string()
        })
}

fn alias_records(env: &HashMap<String, String>, zone: &str, name: &str) -> Vec<Value> {
    aws(
        env,
        &[
            "route53",
            "list-resource-record-sets",
            "--hosted-zone-id",
            zone,
        ],
    )["ResourceRecordSets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["Name"] == name && r["Type"] == "A")
        .cloned()
        .collect()
}

/// Everything the job makes, checked with the stock clients: returns the accelerator.
pub(crate) fn assert_deployed(env: &HashMap<String, String>) -> Value {
    for context in ["sandbox-primary", "sandbox-secondary"] {
        let (ok, out) = kubectl(
            env,
            context,
            &[
                "-n",
                "kube-system",
                "get",
                "deployment",
                "aws-load-balancer-controller",
                "-o",
                "jsonpath={.status.conditions[?(@.type==\"Available\")].status}",
            ],
        );
        assert!(ok && out == "True", "{context}: LBC not Available: {out}");
        let (ok, out) = kubectl(
            env,
            context,
            &[
                "get",
                "ingressclass",
                "alb",
                "-o",
                "jsonpath={.spec.controller}",
            ],
        );
        assert!(ok && out == "ingress.k8s.aws/alb", "{context}: {out}");
        let (ok, out) = kubectl(
            env,
            context,
            &[
                "get",
                "deployment",
                "py-az",
                "-o",
                "jsonpath={.status.conditions[?(@.type==\"Available\")].status}",
            ],
        );
        assert!(ok && out == "True", "{context}: py-az not Available: {out}");
        let (ok, out) = kubectl(
            env,
            context,
            &[
                "get",
                "ingress",
                "py-az-ingress",
                "-o",
                "jsonpath={.status.loadBalancer.ingress[0].hostname}",
            ],
        );
        assert!(
            ok && !out.is_empty(),
            "{context}: ingress has no address: {out}"
        );
    }
    let accs = accelerators(env);
    assert_eq!(accs.len(), 1, "{accs:#?}");
    let acc = accs[0].clone();
    assert_eq!(acc["Name"], "multi-region");
    assert_eq!(acc["Status"], "DEPLOYED");
    assert_eq!(acc["Enabled"], true);
    let arn = acc["AcceleratorArn"].as_str().unwrap();
    let listeners = aws(
        env,
        &[
            "globalaccelerator",
            "list-listeners",
            "--region",
            "us-west-2",
            "--accelerator-arn",
            arn,
        ],
    );
    let listeners = listeners["Listeners"].as_array().unwrap();
    assert_eq!(listeners.len(), 1);
    assert_eq!(listeners[0]["Protocol"], "TCP");
    assert_eq!(listeners[0]["PortRanges"][0]["FromPort"], 80);
    let groups = aws(
        env,
        &[
            "globalaccelerator",
            "list-endpoint-groups",
            "--region",
            "us-west-2",
            "--listener-arn",
            listeners[0]["ListenerArn"].as_str().unwrap(),
        ],
    );
    let groups = groups["EndpointGroups"].as_array().unwrap();
    assert_eq!(groups.len(), 2, "{groups:#?}");
    for (region, dial) in [("us-east-1", 100.0), ("us-east-2", 0.0)] {
        let g = groups
            .iter()
            .find(|g| g["EndpointGroupRegion"] == region)
            .unwrap();
        assert_eq!(g["TrafficDialPercentage"].as_f64(), Some(dial), "{g:#}");
        let lbs = load_balancers(env, region);
        assert_eq!(lbs.len(), 1, "{region}: {lbs:#?}");
        let ep = &g["EndpointDescriptions"][0];
        assert_eq!(ep["EndpointId"], lbs[0]["LoadBalancerArn"], "{g:#}");
        assert_eq!(ep["Weight"], 128);
        assert_eq!(ep["ClientIPPreservationEnabled"], true);
        assert_eq!(g["HealthCheckIntervalSeconds"], 10);
    }
    let zone = zone_id(env, "example.com").expect("the hosted zone");
    let records = alias_records(env, &zone, "multi-region.example.com.");
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!(records[0]["AliasTarget"]["HostedZoneId"], "Z2BJ6XQ5FK7U4H");
    let alias = records[0]["AliasTarget"]["DNSName"]
        .as_str()
        .unwrap()
        .trim_end_matches('.');
    assert_eq!(alias, acc["DnsName"].as_str().unwrap());
    acc
}

/// Nothing the job made remains (the hosted zone, a prerequisite, does).
pub(crate) fn assert_destroyed(env: &HashMap<String, String>) {
    assert!(accelerators(env).is_empty(), "{:#?}", accelerators(env));
    for region in ["us-east-1", "us-east-2"] {
        assert!(
            load_balancers(env, region).is_empty(),
            "ALBs left in {region}"
        );
    }
    let zone = zone_id(env, "example.com").expect("the hosted zone stays");
    assert!(alias_records(env, &zone, "multi-region.example.com.").is_empty());
    for context in ["sandbox-primary", "sandbox-secondary"] {
        for (ns, what) in [
            ("default", "deployment/py-az"),
            ("default", "ingress/py-az-ingress"),
            ("default", "service/py-az"),
            ("kube-system", "deployment/aws-load-balancer-controller"),
        ] {
            let (ok, out) = kubectl(env, context, &["-n", ns, "get", what]);
            assert!(
                !ok && out.contains("NotFound"),
                "{context}: {what} remains: {out}"
            );
        }
    }
}

/// The steps of the reference job that act on a cloud.
pub(crate) const PLUGIN_STEPS: &[&str] = &[
    "lbc-primary",
    "lbc-secondary",
    "app-primary",
    "app-secondary",
    "accelerator",
    "dns",
    "policy",
];

#[test]
fn exec_rerun_destroy_leaves_nothing() {
    let s = Scratch::new();
    let env = sandbox_up(&s);
    let _down = Down(&s);
    let wf = reference_copy(&s, |t| t);

    let started = Instant::now();
    let out = s.run(&["exec", &wf]);
    let exec_time = started.elapsed();
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    let summary = stdout(&out);
    assert!(summary.contains("accelerator.dns_name = "), "{summary}");
    assert!(summary.contains("accelerator.ip_addresses = "), "{summary}");
    assert!(
        summary.contains("summary.try = \"curl http://multi-region.example.com/\""),
        "{summary}"
    );
    let acc = assert_deployed(&env);

    let started = Instant::now();
    let again = s.run(&["exec", &wf]);
    let rerun_time = started.elapsed();
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    for step in PLUGIN_STEPS {
        assert!(
            stdout(&again).contains(&format!("step `{step}`: unchanged")),
            "{step}: {}",
            stdout(&again)
        );
    }
    // A converged re-run makes no mutating call at all.
    let audit = std::fs::read_to_string(s.runs().pop().unwrap().join("audit.ndjson")).unwrap();
    for line in audit.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let f = v["function"].as_str().unwrap();
        assert!(
            !(f.starts_with("create")
                || f.starts_with("update")
                || f.starts_with("delete")
                || f.starts_with("change")
                || f.starts_with("tag")
                || f == "scale"
                || f == "patch"),
            "the re-run called {}.{f}: {line}",
            v["interface"]
        );
    }
    assert_eq!(
        assert_deployed(&env)["AcceleratorArn"],
        acc["AcceleratorArn"]
    );

    let started = Instant::now();
    let destroy = s.run(&["destroy", &wf]);
    let destroy_time = started.elapsed();
    assert_eq!(
        code(&destroy),
        0,
        "{}\n{}",
        stdout(&destroy),
        stderr(&destroy)
    );
    assert_destroyed(&env);
    let twice = s.run(&["destroy", &wf]);
    assert_eq!(code(&twice), 0, "{}\n{}", stdout(&twice), stderr(&twice));
    assert_destroyed(&env);
    eprintln!(
        "reference job on a 20 ms sandbox: exec {exec_time:?}, no-change re-run {rerun_time:?}, destroy {destroy_time:?}"
    );
}

#[test]
fn kill_9_mid_exec_then_exec_converges_without_duplicates() {
    let s = Scratch::new();
    let env = sandbox_up(&s);
    let _down = Down(&s);
    let wf = reference_copy(&s, |t| t);
    let child = s
        .runner(&["exec", &wf, "--output", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Kill it once the accelerator step is under way (or has just created something).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let journal = s
            .runs()
            .last()
            .map(|r| std::fs::read_to_string(r.join("journal.ndjson")).unwrap_or_default())
            .unwrap_or_default();
        if journal.contains("\"step\":\"accelerator\"") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the accelerator step never started:\n{journal}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(150));
    let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    let _ = wait_with_limit(child, Duration::from_secs(10));

    converges_then_destroys(&s, &wf, &env);
}

/// `exec` finishes the job with exactly what a clean run makes, and `destroy` then
/// leaves nothing (both checked with stock clients).
pub(crate) fn converges_then_destroys(s: &Scratch, wf: &str, env: &HashMap<String, String>) {
    let out = s.run(&["exec", wf]);
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    assert_deployed(env);
    let destroy = s.run(&["destroy", wf]);
    assert_eq!(
        code(&destroy),
        0,
        "{}\n{}",
        stdout(&destroy),
        stderr(&destroy)
    );
    assert_destroyed(env);
}

#[test]
fn a_missing_hosted_zone_fails_the_dns_step_and_destroy_cleans_up() {
    let s = Scratch::new();
    let env = sandbox_up(&s);
    let _down = Down(&s);
    // Without the [sandbox] prerequisite the zone does not exist.
    let wf = reference_copy(&s, |t| {
        t.replace("[sandbox]\nhosted_zones = [\"${vars.domain}\"]\n", "")
    });
    let out = s.run(&["exec", &wf, "--var", "domain=missing.example"]);
    assert_eq!(code(&out), 1, "{}\n{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("step `dns` failed: not-found")
            && text.contains("no hosted zone `missing.example`"),
        "{text}"
    );
    assert_eq!(accelerators(&env).len(), 1, "the steps before dns ran");
    let destroy = s.run(&["destroy", &wf, "--var", "domain=missing.example"]);
    assert_eq!(
        code(&destroy),
        0,
        "{}\n{}",
        stdout(&destroy),
        stderr(&destroy)
    );
    assert!(accelerators(&env).is_empty());
    for region in ["us-east-1", "us-east-2"] {
        assert!(
            load_balancers(&env, region).is_empty(),
            "ALBs left in {region}"
        );
    }
}

#[test]
fn an_ingress_without_the_controller_gets_no_address() {
    let s = Scratch::new();
    let env = sandbox_up(&s);
    let _down = Down(&s);
    let app = std::fs::read_to_string(workflows_dir().join("sample-app.yaml")).unwrap();
    s.write("sample-app.yaml", &app);
    s.write(
        "app-only.toml",
        r#"name = "app-only"

[clusters.primary]
region = "us-east-1"

[[steps]]
id = "app"
plugin = "app-deploy"
with = { cluster = "primary", region = "us-east-1", manifest = "${file:sample-app.yaml}", address_timeout_ms = 2000 }
[steps.grants]
kubernetes = { clusters = ["primary"], namespaces = ["default"], kinds = ["Deployment", "Service", "Ingress"], verbs = ["get", "apply", "delete", "wait"] }
elbv2 = { regions = ["us-east-1"] }
"#,
    );
    let out = s.run(&["exec", "app-only.toml"]);
    assert_eq!(code(&out), 1, "{}\n{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("step `app` failed: timeout")
            && text.contains("py-az-ingress")
            && text.contains("AWS Load Balancer Controller"),
        "{text}"
    );
    let destroy = s.run(&["destroy", "app-only.toml"]);
    assert_eq!(
        code(&destroy),
        0,
        "{}\n{}",
        stdout(&destroy),
        stderr(&destroy)
    );
    let (ok, out) = kubectl(&env, "sandbox-primary", &["get", "deployment", "py-az"]);
    assert!(!ok && out.contains("NotFound"), "{out}");
}

#[test]
fn a_wrong_account_is_refused_and_nothing_is_made() {
    let s = Scratch::new();
    let env = sandbox_up(&s);
    let _down = Down(&s);
    let wf = reference_copy(&s, |t| format!("{t}\n[aws]\naccount = \"210987654321\"\n"));
    let out = s.run(&["exec", &wf]);
    assert_eq!(code(&out), 2, "{}\n{}", stdout(&out), stderr(&out));
    assert!(
        stderr(&out).contains("refusing to touch AWS account 000000000000: the workflow declares account 210987654321 ([aws] account)"),
        "{}",
        stderr(&out)
    );
    assert!(accelerators(&env).is_empty());
    let (ok, _) = kubectl(
        &env,
        "sandbox-primary",
        &[
            "-n",
            "kube-system",
            "get",
            "deployment",
            "aws-load-balancer-controller",
        ],
    );
    assert!(!ok);
}
