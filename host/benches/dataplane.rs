//! Data plane benchmarks: prints figures for BENCHMARKS.md.
//!
//! `cargo bench --profile dev -p runner --bench dataplane` (needs `wrk`: apt-get install
//! wrk; the figures in BENCHMARKS.md are from the dev profile, as everything else is
//! built; plain `cargo bench` means a cold release build of the whole tree). It runs
//! the built `runner` as a user would: a sandbox, `workflows/active-failover.toml`, then
//! (1) requests per second straight to a pod against through accelerator → ALB → pod,
//! measured with wrk on loopback in one run, and (2) the failover drill with the ALB
//! defaults (15 s × 2) and with a fast setting (5 s × 2), against its detection floor.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::runner;

fn workflows() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../workflows")
}

/// The workflows, with the sample app's health checks at `interval` s × 2.
fn setup(dir: &Path, interval: Option<u32>) {
    let mut app = std::fs::read_to_string(workflows().join("sample-app.yaml")).unwrap();
    if let Some(i) = interval {
        app = app.replace(
            "    alb.ingress.kubernetes.io/target-type: ip\n",
            &format!("    alb.ingress.kubernetes.io/target-type: ip\n    alb.ingress.kubernetes.io/healthcheck-interval-seconds: \"{i}\"\n"),
        );
    }
    std::fs::write(dir.join("sample-app.yaml"), app).unwrap();
    for wf in ["active-failover.toml", "failover-drill.toml"] {
        std::fs::copy(workflows().join(wf), dir.join(wf)).unwrap();
    }
}

/// wrk's requests per second for `url` (2 threads, 32 connections, 10 s).
fn wrk(url: &str) -> f64 {
    let out = Command::new("wrk")
        .args(["-t2", "-c32", "-d10s", url])
        .output()
        .expect("wrk is required: apt-get install wrk");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("Requests/sec:"))
        .unwrap_or_else(|| panic!("no figure from wrk:\n{text}"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn throughput() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    setup(dir, Some(5));
    runner(dir, &["sandbox", "up", "--detach", "--delay-ms", "20"]);
    runner(dir, &["exec", "active-failover.toml"]);
    let pods: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join(".runner/sandbox/pods.json")).unwrap(),
    )
    .unwrap();
    let pod = pods["pods"]
        .as_object()
        .unwrap()
        .values()
        .find(|p| p["cluster"] == "primary" && p["name"].as_str().unwrap().starts_with("py-az"))
        .unwrap()["address"]
        .as_str()
        .unwrap()
        .to_string();
    let accs: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join(".runner/sandbox/aws.json")).unwrap(),
    )
    .unwrap();
    let ip = accs
        .pointer("/ga/accelerators/0/ips/0")
        .and_then(Value::as_str)
        .unwrap()
        .to_string();
    let direct = wrk(&format!("http://{pod}/"));
    let through = wrk(&format!("http://{ip}/"));
    println!(
        "requests per second: direct to the pod {direct:.0}; through accelerator -> ALB -> pod {through:.0} ({:.0}% of direct; goal >= 50%)",
        100.0 * through / direct
    );
    runner(dir, &["sandbox", "down"]);
}

fn drill(interval: Option<u32>) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    setup(dir, interval);
    runner(dir, &["sandbox", "up", "--detach", "--delay-ms", "20"]);
    runner(dir, &["exec", "active-failover.toml"]);
    let out = runner(dir, &["exec", "failover-drill.toml", "--output", "json"]);
    let fin = out
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| e["event"] == "run_finished")
        .unwrap();
    let o = &fin["outputs"]["drill"];
    let secs = interval.unwrap_or(15);
    println!(
        "failover drill, health checks {secs} s x 2 (floor {} s): failover {:.1} s ({} errors in {} requests), failback {:.1} s",
        secs * 2,
        o["failover_ms"].as_f64().unwrap() / 1000.0,
        o["failover_errors"],
        o["failover_requests"],
        o["failback_ms"].as_f64().unwrap() / 1000.0
    );
    runner(dir, &["sandbox", "down"]);
}

fn main() {
    throughput();
    drill(Some(5));
    drill(None);
}
