//! Fault injection (`runner sandbox up --faults SPEC --seed N`) end to end: the
//! reference job and `destroy` under faults on every call converge to exactly what a
//! clean run makes, checked with stock clients (boto3 and kubectl, faults paused);
//! a call whose retries run out fails its step with the operation's name and leaves one
//! resource, not one per attempt; and a bad spec starts nothing.

use std::collections::{BTreeMap, HashMap};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cloud::http_get;
use crate::reference_job::{PLUGIN_STEPS, accelerators, converges_then_destroys, reference_copy};
use crate::support::*;

/// Every call of every service faulted: 26 % of AWS calls fail (throttling, 5xx, a reset
/// before or after the call is applied) and 15 % are slowed; Kubernetes patches also
/// conflict (4 %), and watches also end in 410 Gone or are dropped (25 % each). The
/// Retry-After of a 429 is 0 s (kube-apiserver says 1 s) to keep the test short.
const SPEC: &str = "throttle=0.1,5xx=0.07,reset-before=0.04,reset-after=0.05,latency=0.15,\
                    conflict=0.04,gone=0.25,drop-watch=0.25,latency-ms=30,retry-after=0";

/// exec + re-run + destroy cycles per lane; two lanes (sandboxes, seeds) run side by side.
const CYCLES: usize = 5;
const SEEDS: [u64; 2] = [11, 23];

/// `sandbox up --detach` with `args`; returns the `sandbox env` exports.
fn up(s: &Scratch, args: &[&str]) -> HashMap<String, String> {
    let mut all = vec!["sandbox", "up", "--detach", "--delay-ms", "20"];
    all.extend(args);
    let up = s.run(&all);
    assert_eq!(code(&up), 0, "{}\n{}", stdout(&up), stderr(&up));
    exports(&stdout(&s.run(&["sandbox", "env"])))
}

/// The live fault counts of the sandbox (its health endpoint).
fn counts(env: &HashMap<String, String>) -> Value {
    let health: Value = serde_json::from_str(&http_get(&format!(
        "{}/_sandbox/health",
        env["AWS_ENDPOINT_URL"]
    )))
    .unwrap();
    health["faults"].clone()
}

/// Pauses (or resumes) the sandbox's faults, so the checks see the result, not faults.
fn pause(env: &HashMap<String, String>, paused: bool) {
    let path = if paused { "pause" } else { "resume" };
    let url = format!("{}/_sandbox/faults/{path}", env["AWS_ENDPOINT_URL"]);
    let out = Command::new("curl")
        .args(["-sf", "-X", "POST", &url])
        .output()
        .expect("curl is required");
    let counts: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert_eq!(
        counts["paused"],
        paused,
        "{url}: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

fn injected(env: &HashMap<String, String>) -> u64 {
    counts(env)["injected"].as_u64().unwrap()
}

/// The AWS side as boto3 sees it (standard retries, should the sandbox misbehave).
const AWS_STATE: &str = r#"
import json, boto3
from botocore.config import Config
cfg = Config(retries={"mode": "standard", "max_attempts": 10})
ga = boto3.client("globalaccelerator", region_name="us-west-2", config=cfg)
out = {"accelerators": [], "lbs": {}, "records": []}
for a in ga.list_accelerators()["Accelerators"]:
    a["Listeners"] = ga.list_listeners(AcceleratorArn=a["AcceleratorArn"])["Listeners"]
    for l in a["Listeners"]:
        l["EndpointGroups"] = ga.list_endpoint_groups(ListenerArn=l["ListenerArn"])["EndpointGroups"]
    out["accelerators"].append(a)
for region in ("us-east-1", "us-east-2"):
    elb = boto3.client("elbv2", region_name=region, config=cfg)
    out["lbs"][region] = elb.describe_load_balancers()["LoadBalancers"]
r53 = boto3.client("route53", config=cfg)
zones = [z for z in r53.list_hosted_zones_by_name(DNSName="example.com")["HostedZones"] if z["Name"] == "example.com."]
out["zones"] = len(zones)
if zones:
    sets = r53.list_resource_record_sets(HostedZoneId=zones[0]["Id"])["ResourceRecordSets"]
    out["records"] = [r for r in sets if r["Name"] == "multi-region.example.com."]
print(json.dumps(out, default=str))
"#;

fn aws_state(env: &HashMap<String, String>) -> Value {
    let out = isolated_aws_client("python3", env)
        .args(["-c", AWS_STATE])
        .output()
        .expect("python3 with boto3 is required");
    assert!(
        out.status.success(),
        "boto3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Deployments, services, ingresses and ingress classes of a cluster, as kubectl lists
/// them (faults are paused: kubectl does not retry; a failure is retried a few times all
/// the same, in case the sandbox's answer to the pause was still in flight).
fn kube_state(env: &HashMap<String, String>, context: &str) -> Vec<Value> {
    let mut last = String::new();
    for _ in 0..5 {
        let out = Command::new("kubectl")
            .args([
                "--context",
                context,
                "get",
                "deployments,services,ingresses,ingressclasses",
            ])
            .args(["-A", "-o", "json"])
            .envs(env)
            .output()
            .expect("kubectl is required");
        if out.status.success()
            && let Ok(v) = serde_json::from_slice::<Value>(&out.stdout)
        {
            return v["items"].as_array().cloned().unwrap_or_default();
        }
        last = String::from_utf8_lossy(&out.stderr).into_owned();
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{context}: kubectl kept failing: {last}");
}

fn find<'a>(items: &'a [Value], kind: &str, ns: &str, name: &str) -> Vec<&'a Value> {
    items
        .iter()
        .filter(|o| {
            o["kind"] == kind
                && o["metadata"]["name"] == name
                && o["metadata"]["namespace"].as_str().unwrap_or("") == ns
        })
        .collect()
}

fn available(o: &Value) -> bool {
    o["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Available" && c["status"] == "True")
    })
}

/// What a clean run of the reference job makes, and nothing more.
fn check_deployed(env: &HashMap<String, String>, at: &str) {
    for context in ["sandbox-primary", "sandbox-secondary"] {
        let items = kube_state(env, context);
        let lbc = find(
            &items,
            "Deployment",
            "kube-system",
            "aws-load-balancer-controller",
        );
        assert!(
            lbc.len() == 1 && available(lbc[0]),
            "{at} {context}: LBC {lbc:#?}"
        );
        let app = find(&items, "Deployment", "default", "py-az");
        assert!(
            app.len() == 1 && available(app[0]),
            "{at} {context}: app {app:#?}"
        );
        assert_eq!(find(&items, "Service", "default", "py-az").len(), 1, "{at}");
        let ing = find(&items, "Ingress", "default", "py-az-ingress");
        assert!(
            ing.len() == 1
                && ing[0]["status"]["loadBalancer"]["ingress"][0]["hostname"].is_string(),
            "{at} {context}: ingress {ing:#?}"
        );
        let class = find(&items, "IngressClass", "", "alb");
        assert_eq!(class.len(), 1, "{at} {context}");
        assert_eq!(class[0]["spec"]["controller"], "ingress.k8s.aws/alb");
    }
    let aws = aws_state(env);
    let accs = aws["accelerators"].as_array().unwrap();
    assert_eq!(accs.len(), 1, "{at}: accelerators {accs:#?}");
    let acc = &accs[0];
    assert_eq!(acc["Name"], "multi-region", "{at}");
    assert_eq!(acc["Status"], "DEPLOYED", "{at}");
    assert_eq!(acc["Enabled"], true, "{at}");
    let listeners = acc["Listeners"].as_array().unwrap();
    assert_eq!(listeners.len(), 1, "{at}: listeners {listeners:#?}");
    assert_eq!(listeners[0]["Protocol"], "TCP");
    assert_eq!(listeners[0]["PortRanges"][0]["FromPort"], 80);
    let groups = listeners[0]["EndpointGroups"].as_array().unwrap();
    assert_eq!(groups.len(), 2, "{at}: groups {groups:#?}");
    for (region, dial) in [("us-east-1", 100.0), ("us-east-2", 0.0)] {
        let lbs = aws["lbs"][region].as_array().unwrap();
        assert_eq!(lbs.len(), 1, "{at} {region}: ALBs {lbs:#?}");
        let g: Vec<&Value> = groups
            .iter()
            .filter(|g| g["EndpointGroupRegion"] == region)
            .collect();
        assert_eq!(g.len(), 1, "{at} {region}");
        assert_eq!(g[0]["TrafficDialPercentage"].as_f64(), Some(dial), "{at}");
        let eps = g[0]["EndpointDescriptions"].as_array().unwrap();
        assert_eq!(eps.len(), 1, "{at} {region}: endpoints {eps:#?}");
        assert_eq!(eps[0]["EndpointId"], lbs[0]["LoadBalancerArn"], "{at}");
        assert_eq!(eps[0]["Weight"], 128, "{at}");
        assert_eq!(g[0]["HealthCheckIntervalSeconds"], 10, "{at}");
    }
    assert_eq!(aws["zones"], 1, "{at}: hosted zones");
    let records = aws["records"].as_array().unwrap();
    assert_eq!(records.len(), 1, "{at}: records {records:#?}");
    assert_eq!(records[0]["Type"], "A");
    assert_eq!(records[0]["AliasTarget"]["HostedZoneId"], "Z2BJ6XQ5FK7U4H");
    assert_eq!(
        records[0]["AliasTarget"]["DNSName"]
            .as_str()
            .unwrap()
            .trim_end_matches('.'),
        acc["DnsName"].as_str().unwrap(),
        "{at}"
    );
}

/// Nothing the job made remains; the hosted zone (a prerequisite) does, once.
fn check_destroyed(env: &HashMap<String, String>, at: &str) {
    for context in ["sandbox-primary", "sandbox-secondary"] {
        let items = kube_state(env, context);
        for (kind, ns, name) in [
            ("Deployment", "kube-system", "aws-load-balancer-controller"),
            ("Deployment", "default", "py-az"),
            ("Service", "default", "py-az"),
            ("Ingress", "default", "py-az-ingress"),
            ("IngressClass", "", "alb"),
        ] {
            let left = find(&items, kind, ns, name);
            assert!(
                left.is_empty(),
                "{at} {context}: {kind} {ns}/{name} remains"
            );
        }
    }
    let aws = aws_state(env);
    assert_eq!(aws["accelerators"], Value::Array(vec![]), "{at}");
    for region in ["us-east-1", "us-east-2"] {
        assert_eq!(aws["lbs"][region], Value::Array(vec![]), "{at} {region}");
    }
    assert_eq!(aws["zones"], 1, "{at}: hosted zones");
    assert_eq!(aws["records"], Value::Array(vec![]), "{at}");
}

/// What one lane measured.
struct Lane {
    /// Faults injected into runner's own calls (exec and destroy), not the checks'.
    by_runner: u64,
    /// The sandbox's final counts (the checks run with faults paused).
    counts: Value,
}

/// `cycles` × (exec, check, exec again, destroy, check) on one faulty sandbox.
fn lane(seed: u64, cycles: usize) -> Lane {
    let s = Scratch::new();
    let seed_text = seed.to_string();
    let env = up(&s, &["--faults", SPEC, "--seed", &seed_text]);
    let _down = Down(&s);
    let wf = reference_copy(&s, |t| t);
    let mut by_runner = 0;
    for cycle in 1..=cycles {
        for command in ["exec", "re-run", "destroy"] {
            let before = injected(&env);
            let started = Instant::now();
            let out = s.run(&[if command == "re-run" { "exec" } else { command }, &wf]);
            let during = injected(&env) - before;
            let at = format!(
                "seed {seed}, cycle {cycle}, {command} ({during} faults, {:?})",
                started.elapsed()
            );
            assert_eq!(code(&out), 0, "{at}:\n{}\n{}", stdout(&out), stderr(&out));
            assert!(during > 0, "{at}: no fault was injected");
            by_runner += during;
            match command {
                "exec" | "destroy" => {
                    pause(&env, true);
                    if command == "exec" {
                        check_deployed(&env, &at);
                    } else {
                        check_destroyed(&env, &at);
                    }
                    pause(&env, false);
                }
                // A converged job stays converged: the faults made nothing new.
                _ => {
                    for step in PLUGIN_STEPS {
                        assert!(
                            stdout(&out).contains(&format!("step `{step}`: unchanged")),
                            "{at}: {step}: {}",
                            stdout(&out)
                        );
                    }
                }
            }
            eprintln!("{at}");
        }
    }
    Lane {
        by_runner,
        counts: counts(&env),
    }
}

#[test]
fn reference_job_and_destroy_converge_under_faults_on_every_call() {
    let started = Instant::now();
    let lanes: Vec<_> = SEEDS
        .into_iter()
        .map(|seed| std::thread::spawn(move || lane(seed, CYCLES)))
        .collect();
    let lanes: Vec<Lane> = lanes.into_iter().map(|l| l.join().unwrap()).collect();
    let by_runner: u64 = lanes.iter().map(|l| l.by_runner).sum();
    let mut by_kind: BTreeMap<String, u64> = BTreeMap::new();
    let (mut calls, mut all) = (0, 0);
    for l in &lanes {
        calls += l.counts["calls"].as_u64().unwrap();
        all += l.counts["injected"].as_u64().unwrap();
        for (k, n) in l.counts["by_kind"].as_object().unwrap() {
            *by_kind.entry(k.clone()).or_default() += n.as_u64().unwrap();
        }
    }
    eprintln!(
        "faults: {by_runner} injected into runner's exec and destroy calls, {all} in all \
         ({calls} calls rolled for): {by_kind:?}; {} cycles in {:?}",
        SEEDS.len() * CYCLES,
        started.elapsed()
    );
    assert!(
        by_runner >= 1000,
        "only {by_runner} faults were injected into runner's calls"
    );
    for kind in [
        "throttle",
        "5xx",
        "reset-before",
        "reset-after",
        "latency",
        "conflict",
        "gone",
        "drop-watch",
    ] {
        assert!(
            by_kind.get(kind).is_some_and(|n| *n > 0),
            "no {kind} fault: {by_kind:?}"
        );
    }
}

#[test]
fn when_retries_run_out_the_step_names_the_operation_and_one_listener_exists() {
    let s = Scratch::new();
    // Every CreateListener is applied and its answer lost: the SDK sends it again with
    // the same idempotency token until it gives up.
    let env = up(
        &s,
        &["--faults", "ga.CreateListener:reset-after=1", "--seed", "5"],
    );
    let _down = Down(&s);
    let wf = reference_copy(&s, |t| t);
    let out = s.run(&["exec", &wf]);
    assert_eq!(code(&out), 1, "{}\n{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("step `accelerator` failed: unavailable:")
            && text.contains("CreateListener: could not reach the service"),
        "{text}"
    );
    let c = counts(&env);
    let attempts = c["by_operation"]["ga.CreateListener"]["reset-after"]
        .as_u64()
        .unwrap();
    assert_eq!(attempts, 10, "the SDK's attempts: {c:#}");
    let status = s.run(&["sandbox", "status"]);
    assert!(
        stdout(&status).contains("faults: 10 injected in ")
            && stdout(&status).contains("reset-after 10"),
        "{}",
        stdout(&status)
    );
    // Ten attempts, one token: one listener, on the one accelerator.
    let accs = accelerators(&env);
    assert_eq!(accs.len(), 1, "{accs:#?}");
    let listeners = crate::cloud::aws(
        &env,
        &[
            "globalaccelerator",
            "list-listeners",
            "--region",
            "us-west-2",
            "--accelerator-arn",
            accs[0]["AcceleratorArn"].as_str().unwrap(),
        ],
    );
    assert_eq!(
        listeners["Listeners"].as_array().unwrap().len(),
        1,
        "{listeners:#}"
    );

    // The same sandbox without faults: the next exec finishes the job without duplicates.
    let down = s.run(&["sandbox", "down"]);
    assert_eq!(code(&down), 0, "{}", stderr(&down));
    let env = up(&s, &[]);
    assert!(
        counts(&env).is_null(),
        "faults are not kept for a later `up`"
    );
    assert!(!s.state_dir().join("sandbox/faults.json").exists());
    converges_then_destroys(&s, &wf, &env);
}

#[test]
fn a_bad_fault_spec_is_refused_with_its_field_and_nothing_starts() {
    let s = Scratch::new();
    let bad_file = s.write(
        "faults.txt",
        "# faults for a test\nthrottle=0.1\nga.Nope:5xx=0.2\n",
    );
    let bad_file = format!("@{}", bad_file.display());
    for (spec, field) in [
        ("bad", "--faults `bad`: expected [SCOPE:]KIND=RATE"),
        (
            "s3:throttle=0.1",
            "--faults `s3:throttle`: unknown service `s3`",
        ),
        (
            "route53.CreateBucket:5xx=0.1",
            "--faults `route53.CreateBucket:5xx`: route53 has no operation `CreateBucket`",
        ),
        (
            "kube:throttle=1.5",
            "--faults `kube:throttle`: rate 1.5 is outside 0-1",
        ),
        (
            "reset-after=-1",
            "--faults `reset-after`: rate -1 is outside 0-1",
        ),
        (
            bad_file.as_str(),
            "--faults `ga.Nope:5xx`: ga has no operation `Nope`",
        ),
    ] {
        for detach in [false, true] {
            let mut args = vec!["sandbox", "up", "--faults", spec];
            if detach {
                args.push("--detach");
            }
            let out = s.run(&args);
            assert_eq!(code(&out), 2, "{spec}: {}", stderr(&out));
            assert!(stderr(&out).contains(field), "{spec}: {}", stderr(&out));
            let dir = s.state_dir().join("sandbox");
            assert!(!dir.exists(), "{spec}: {} was created", dir.display());
        }
    }
    let status = s.run(&["sandbox", "status"]);
    assert_eq!(code(&status), 3, "{}", stdout(&status));
    assert!(
        stdout(&status).contains("never been started"),
        "{}",
        stdout(&status)
    );
}
