//! Routing-policy benchmarks: prints figures for BENCHMARKS.md.
//!
//! `cargo bench --profile dev -p runner --bench policy`.
//!
//! 1. Decisions per second of the built-in `latency` policy with 10 endpoint groups,
//!    through the same `PolicyRuntime` the loop uses (a fresh instance per decision,
//!    limits on, memory threaded from one decision to the next), on one task and on
//!    two at once (this machine has 2 cores), beside what a fresh instance alone costs.
//!    `BENCH_GROUPS`, `BENCH_N`, `BENCH_POLICY` and `BENCH_PARAMS` change the shape;
//!    `BENCH_SKIP_REACTION` skips part 2.
//! 2. The loop's reaction time against the sandbox, through the built `runner`: the
//!    primary's pods are scaled to zero, then `runner watch` (every 1 s) observes,
//!    decides and applies; the figures are its per-tick observe/decide/apply times and
//!    the time from the pods going to the dials being changed.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use runner::bindings::policy::{
    Endpoint, EndpointGroup, Listener, Observation, PortRange, RegionProbes,
};
use runner::capabilities::StepHost;
use runner::engine::{EngineOptions, LoadedPolicy, WasmEngine};
use runner::exec::recorder::Recorder;
use runner::policy::builtins::policies;
use runner::policy::runtime::{POLICY_LIMITS, PolicyRuntime};
use serde_json::Value;
use support::runner;

const GROUPS: usize = 10;

fn groups() -> usize {
    std::env::var("BENCH_GROUPS")
        .ok()
        .and_then(|g| g.parse().ok())
        .unwrap_or(GROUPS)
}

fn observation() -> Observation {
    let regions: Vec<String> = (0..groups()).map(|i| format!("region-{i}")).collect();
    let groups = regions
        .iter()
        .enumerate()
        .map(|(i, r)| EndpointGroup {
            arn: format!("arn:aws:globalaccelerator::000000000000:accelerator/a/listener/l/endpoint-group/g{i}"),
            region: r.clone(),
            traffic_dial_percentage: 100.0,
            endpoints: (0..2)
                .map(|e| Endpoint {
                    endpoint_id: format!("arn:aws:elasticloadbalancing:{r}:000000000000:loadbalancer/app/lb{e}/{i}"),
                    weight: 128,
                    health_state: "HEALTHY".into(),
                })
                .collect(),
            health_check_interval_seconds: 10,
            threshold_count: 3,
        })
        .collect();
    // Three regions are slow, so every decision has real work (streaks, steps).
    let probes = regions
        .iter()
        .enumerate()
        .map(|(i, r)| RegionProbes {
            region: r.clone(),
            samples: 6,
            errors: 0,
            error_rate: 0.0,
            p50_ms: 5.0,
            p95_ms: if i < 3 { 400.0 } else { 20.0 },
            max_ms: 500.0,
        })
        .collect();
    Observation {
        time_ms: 1_764_000_000_000,
        tick: 1,
        accelerator_arn: "arn:aws:globalaccelerator::000000000000:accelerator/a".into(),
        accelerator_name: "bench".into(),
        listeners: vec![Listener {
            arn: "arn:aws:globalaccelerator::000000000000:accelerator/a/listener/l".into(),
            protocol: "TCP".into(),
            port_ranges: vec![PortRange {
                from_port: 80,
                to_port: 80,
            }],
            endpoint_groups: groups,
        }],
        probes,
        params: std::env::var("BENCH_PARAMS")
            .unwrap_or_else(|_| r#"{"bound_ms": 250, "step": 10, "recover_after": 3}"#.into()),
        memory: None,
    }
}

/// What a decision costs before the policy runs: a store with its limits and a fresh
/// instance of the component.
async fn instantiate_only(engine: &WasmEngine, loaded: &LoadedPolicy) {
    let n = 5000;
    let started = Instant::now();
    for _ in 0..n {
        let host = StepHost::new(
            "bench".into(),
            Arc::new(Recorder::detached()),
            Default::default(),
            Default::default(),
        );
        let mut store = engine.store(host, &POLICY_LIMITS);
        loaded.pre.instantiate_async(&mut store).await.unwrap();
    }
    println!(
        "store + fresh instance alone: {:.1} µs each ({n})",
        started.elapsed().as_secs_f64() * 1e6 / n as f64
    );
}

/// Decides `n` times in a row on one task; returns each decision's time.
async fn decide_loop(runtime: Arc<PolicyRuntime>, n: usize) -> Vec<Duration> {
    let mut obs = observation();
    let mut times = Vec::with_capacity(n);
    for tick in 1..=n {
        obs.tick = tick as u64;
        let started = Instant::now();
        let decision = runtime
            .decide(&obs)
            .await
            .expect("the latency policy decides");
        times.push(started.elapsed());
        assert!(!decision.reason.is_empty(), "{decision:?}");
        obs.memory = decision.memory;
    }
    times
}

fn decisions_per_second(rt: &tokio::runtime::Runtime) {
    let cache = tempfile::tempdir().unwrap();
    let engine = Arc::new(
        WasmEngine::new(EngineOptions {
            cache_dir: Some(cache.path().to_path_buf()),
            pooling: true,
        })
        .unwrap(),
    );
    let which = std::env::var("BENCH_POLICY").unwrap_or_else(|_| "latency".into());
    let (_, _, bytes) = policies().iter().find(|(n, _, _)| *n == which).unwrap();
    let loaded = engine.load_policy(bytes).unwrap();
    rt.block_on(instantiate_only(&engine, &loaded));
    let runtime = Arc::new(PolicyRuntime::new(
        engine,
        loaded,
        Arc::new(Recorder::detached()),
        "latency".into(),
    ));
    rt.block_on(async {
        decide_loop(runtime.clone(), 500).await;
        let n = std::env::var("BENCH_N").ok().and_then(|g| g.parse().ok()).unwrap_or(20_000);
        let started = Instant::now();
        let mut times = decide_loop(runtime.clone(), n).await;
        let elapsed = started.elapsed();
        times.sort();
        println!(
            "latency policy, {GROUPS} endpoint groups, one task: {:.0} decisions/s (median {:.1} µs, p99 {:.1} µs per decision, {n} decisions; goal >= 10,000/s)",
            n as f64 / elapsed.as_secs_f64(),
            times[n / 2].as_secs_f64() * 1e6,
            times[n * 99 / 100].as_secs_f64() * 1e6,
        );
        let started = Instant::now();
        let a = tokio::spawn(decide_loop(runtime.clone(), n));
        let b = tokio::spawn(decide_loop(runtime.clone(), n));
        a.await.unwrap();
        b.await.unwrap();
        println!(
            "latency policy, {GROUPS} endpoint groups, two tasks at once: {:.0} decisions/s in all",
            (2 * n) as f64 / started.elapsed().as_secs_f64()
        );
    });
}

fn kubectl(dir: &Path, replicas: u32) {
    let kubeconfig = dir.join(".runner/sandbox/kubeconfig");
    let out = Command::new("kubectl")
        .args([
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--context",
            "sandbox-primary",
        ])
        .args([
            "scale",
            "deployment",
            "py-az",
            &format!("--replicas={replicas}"),
        ])
        .output()
        .expect("kubectl is required");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn reaction() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let workflows = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../workflows");
    for f in ["active-failover.toml", "sample-app.yaml"] {
        std::fs::copy(workflows.join(f), dir.join(f)).unwrap();
    }
    runner(dir, &["sandbox", "up", "--detach", "--delay-ms", "20"]);
    runner(dir, &["exec", "active-failover.toml"]);
    let watch = [
        "watch",
        "active-failover.toml",
        "-o",
        "json",
        "--var",
        "policy_every=1s",
    ];
    for round in 1..=3 {
        kubectl(dir, 0);
        let gone = now_ms();
        let out = runner(dir, &[&watch[..], &["--ticks", "1"]].concat());
        let tick: Value = out
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v["event"] == "policy_tick")
            .unwrap();
        assert_eq!(tick["applied"].as_array().unwrap().len(), 2, "{tick}");
        println!(
            "round {round}: pods gone -> dials changed in {} ms (runner start included); observe {} ms (listings and 6 probes), decide {} µs, apply {} ms (2 UpdateEndpointGroup)",
            tick["ts_ms"].as_u64().unwrap() - gone,
            tick["observe_ms"],
            tick["decide_us"],
            tick["apply_ms"],
        );
        kubectl(dir, 2);
        std::thread::sleep(Duration::from_secs(2));
        runner(dir, &[&watch[..], &["--ticks", "3"]].concat());
    }
    runner(dir, &["sandbox", "down"]);
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    decisions_per_second(&rt);
    if std::env::var("BENCH_SKIP_REACTION").is_err() {
        reaction();
    }
}
