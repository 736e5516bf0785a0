//! Engine benchmarks: prints figures for BENCHMARKS.md.
//!
//! `cargo bench -p runner --bench engine` (release). Each figure is measured in this
//! process with the same code paths `runner exec` uses.

use std::sync::Arc;
use std::time::{Duration, Instant};

use runner::bindings::Invocation;
use runner::capabilities::StepHost;
use runner::engine::outcome::{self, Call};
use runner::engine::{EngineOptions, StepLimits, WasmEngine};
use runner::exec::recorder::{Recorder, Silent};
use runner::exec::{ExecOptions, Loaded};
use runner::state::StateDir;
use runner_workflow::Workflow;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn micros(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn builtin(name: &str) -> &'static [u8] {
    runner::plugins::builtins()
        .iter()
        .find(|(n, _, _)| *n == name)
        .unwrap()
        .2
}

/// Instantiate + run `echo` with a small input in a fresh store, from a loaded plugin.
async fn trivial_step(pooling: bool) {
    let cache = tempfile::tempdir().unwrap();
    let engine = WasmEngine::new(EngineOptions {
        cache_dir: Some(cache.path().into()),
        pooling,
    })
    .unwrap();
    let plugin = engine.load(builtin("echo")).unwrap();
    let recorder = Arc::new(Recorder::detached());
    let limits = StepLimits::default();
    let inv = Invocation {
        step: "s".into(),
        run: "r".into(),
        attempt: 1,
        params: r#"{"outputs":{"k":"v"}}"#.into(),
    };
    let mut samples = Vec::new();
    for i in 0..3000 {
        let host = StepHost::new(
            "s".into(),
            recorder.clone(),
            Default::default(),
            Default::default(),
        );
        let start = Instant::now();
        let (r, _) = outcome::call(&engine, &plugin, host, &limits, Call::Run(&inv)).await;
        let took = start.elapsed();
        r.unwrap();
        if i >= 100 {
            samples.push(took);
        }
    }
    samples.sort();
    println!(
        "trivial step (instantiate + run + drop), {} allocator: median {}, p99 {} over {} runs",
        if pooling { "pooling" } else { "on-demand" },
        micros(percentile(&samples, 0.5)),
        micros(percentile(&samples, 0.99)),
        samples.len()
    );
}

/// A 100-step workflow of trivial steps, through the scheduler with the journal.
async fn hundred_steps(chained: bool) {
    let dir = tempfile::tempdir().unwrap();
    let mut toml = String::from("name = \"hundred\"\n");
    for i in 0..100 {
        toml.push_str(&format!(
            "[[steps]]\nid = \"s{i}\"\nplugin = \"echo\"\nwith = {{ outputs = {{ n = {i} }} }}\n"
        ));
        if chained && i > 0 {
            toml.push_str(&format!("needs = [\"s{}\"]\n", i - 1));
        }
    }
    let path = dir.path().join("wf.toml");
    std::fs::write(&path, &toml).unwrap();
    let engine = Arc::new(
        WasmEngine::new(EngineOptions {
            cache_dir: Some(dir.path().join("cache")),
            pooling: true,
        })
        .unwrap(),
    );
    // Warm the compile cache: the figure is the engine's overhead, not Cranelift's.
    engine.load(builtin("echo")).unwrap();
    let mut totals = Vec::new();
    for round in 0..5 {
        let start = Instant::now();
        let wf = Workflow::load(&path, &[]).unwrap();
        let loaded = Loaded::new(&engine, &wf).unwrap();
        let state = StateDir::new(dir.path().join(format!("state{round}")));
        let result = runner::exec::exec(
            engine.clone(),
            &wf,
            &loaded,
            &state,
            Arc::new(Silent),
            &ExecOptions::default(),
        )
        .await
        .unwrap();
        totals.push(start.elapsed());
        assert_eq!(result.steps.len(), 100);
    }
    totals.sort();
    println!(
        "100-step workflow ({}), parse + plan + run + journal: median {:.1} ms (min {:.1}, max {:.1}) over {} runs",
        if chained {
            "a chain"
        } else {
            "all independent"
        },
        percentile(&totals, 0.5).as_secs_f64() * 1e3,
        totals[0].as_secs_f64() * 1e3,
        totals[totals.len() - 1].as_secs_f64() * 1e3,
        totals.len()
    );
}

/// First compile of every built-in, then loading them from the on-disk cache.
fn compile_and_cache() {
    let cache = tempfile::tempdir().unwrap();
    let opts = EngineOptions {
        cache_dir: Some(cache.path().into()),
        pooling: false,
    };
    let engine = WasmEngine::new(opts.clone()).unwrap();
    let start = Instant::now();
    for (_, _, bytes) in runner::plugins::builtins() {
        engine.load(bytes).unwrap();
    }
    let compile = start.elapsed();
    let engine = WasmEngine::new(opts).unwrap();
    let start = Instant::now();
    for (_, _, bytes) in runner::plugins::builtins() {
        let p = engine.load(bytes).unwrap();
        assert_eq!(p.outcome, runner::engine::CacheOutcome::Hit);
    }
    let load = start.elapsed();
    let n = runner::plugins::builtins().len();
    println!(
        "built-ins ({n}): first compile {:.1} ms in all, load from the disk cache {:.2} ms in all ({:.2} ms each)",
        compile.as_secs_f64() * 1e3,
        load.as_secs_f64() * 1e3,
        load.as_secs_f64() * 1e3 / n as f64
    );
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Resident memory per concurrently running instance: N `sleep` steps at once, with
/// the pooling allocator `runner` uses.
async fn memory_per_instance(n: usize) {
    let cache = tempfile::tempdir().unwrap();
    let engine = Arc::new(
        WasmEngine::new(EngineOptions {
            cache_dir: Some(cache.path().into()),
            pooling: true,
        })
        .unwrap(),
    );
    let plugin = engine.load(builtin("sleep")).unwrap();
    let recorder = Arc::new(Recorder::detached());
    let before = rss_kib();
    let mut tasks = Vec::new();
    for i in 0..n {
        let (engine, plugin, recorder) = (engine.clone(), plugin.clone(), recorder.clone());
        tasks.push(tokio::spawn(async move {
            let inv = Invocation {
                step: format!("s{i}"),
                run: "r".into(),
                attempt: 1,
                params: r#"{"ms":2000}"#.into(),
            };
            let host = StepHost::new(
                inv.step.clone(),
                recorder,
                Default::default(),
                Default::default(),
            );
            outcome::call(
                &engine,
                &plugin,
                host,
                &StepLimits::default(),
                Call::Run(&inv),
            )
            .await
            .0
            .unwrap();
        }));
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let during = rss_kib();
    for t in tasks {
        t.await.unwrap();
    }
    println!(
        "resident memory: {n} instances running at once add {:.1} MiB, {:.0} KiB per instance",
        (during.saturating_sub(before)) as f64 / 1024.0,
        (during.saturating_sub(before)) as f64 / n as f64
    );
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not supported.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        compile_and_cache();
        trivial_step(false).await;
        trivial_step(true).await;
        hundred_steps(false).await;
        hundred_steps(true).await;
        memory_per_instance(200).await;
    });
}
