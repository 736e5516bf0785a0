//! Data plane benchmarks: prints figures for BENCHMARKS.md.
//!
//! `cargo bench --profile dev -p runner --bench dataplane` (needs `wrk`: apt-get install
//! wrk; the figures in BENCHMARKS.md are from the dev profile, as everything else is
//! built; plain `cargo bench` means a cold release build of the whole tree). It runs
//! the built `runner` as a user would: a sandbox, `workflows/active-failover.toml`, then
//! (1) requests per second straight to a pod against through accelerator → ALB → pod,
//! measured with wrk on loopback in one run, (2) 2,000 concurrent connections through
//! the accelerator and at the ALB, which must all be answered with a 2xx: 2,000 opened
//! at once each sending one GET, then wrk with 2,000 connections, and (3) the failover
//! drill with the ALB defaults (15 s × 2) and with a fast setting (5 s × 2), against its
//! detection floor.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

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

/// What one wrk run measured. wrk reports `Socket errors` and `Non-2xx or 3xx
/// responses` only when there were some; the sample app never redirects, so the
/// second is its count of non-2xx answers.
#[derive(Debug, Default)]
struct WrkRun {
    requests_per_second: f64,
    requests: u64,
    non_2xx: u64,
    /// connect, read, write, timeout
    socket_errors: [u64; 4],
}

impl WrkRun {
    fn parse(text: &str) -> Result<WrkRun, String> {
        let mut run = WrkRun::default();
        let mut rate = None;
        for line in text.lines().map(str::trim) {
            if let Some(rest) = line.strip_prefix("Requests/sec:") {
                rate = rest.trim().parse().ok();
            } else if let Some(rest) = line.strip_prefix("Non-2xx or 3xx responses:") {
                run.non_2xx = rest
                    .trim()
                    .parse()
                    .map_err(|_| format!("bad line `{line}`"))?;
            } else if let Some(rest) = line.strip_prefix("Socket errors:") {
                // "connect 0, read 0, write 0, timeout 0"
                for (slot, part) in run.socket_errors.iter_mut().zip(rest.split(',')) {
                    *slot = part
                        .split_whitespace()
                        .nth(1)
                        .and_then(|n| n.parse().ok())
                        .ok_or_else(|| format!("bad line `{line}`"))?;
                }
            } else if line.contains(" requests in ") {
                run.requests = line
                    .split_whitespace()
                    .next()
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| format!("bad line `{line}`"))?;
            }
        }
        run.requests_per_second = rate.ok_or("no `Requests/sec` figure")?;
        Ok(run)
    }

    fn errors(&self) -> u64 {
        self.non_2xx + self.socket_errors.iter().sum::<u64>()
    }

    fn describe(&self) -> String {
        let [connect, read, write, timeout] = self.socket_errors;
        format!(
            "{:.0} req/s, {} requests, {} non-2xx, socket errors: connect {connect}, read {read}, write {write}, timeout {timeout}",
            self.requests_per_second, self.requests, self.non_2xx
        )
    }
}

/// One wrk run against `url` (2 threads, 32 connections, 10 s).
fn wrk(url: &str) -> WrkRun {
    wrk_with(url, &["-t2", "-c32", "-d10s"])
}

/// One wrk run against `url` with `args`.
fn wrk_with(url: &str, args: &[&str]) -> WrkRun {
    let out = Command::new("wrk")
        .args(args)
        .arg(url)
        .output()
        .expect("wrk is required: apt-get install wrk");
    let text = String::from_utf8_lossy(&out.stdout);
    WrkRun::parse(&text).unwrap_or_else(|e| panic!("wrk's output: {e}:\n{text}"))
}

/// A sandbox in `dir` with the reference job deployed: its state directory.
fn deployed(dir: &Path) -> PathBuf {
    setup(dir, Some(5));
    runner(dir, &["sandbox", "up", "--detach", "--delay-ms", "20"]);
    runner(dir, &["exec", "active-failover.toml"]);
    dir.join(".runner/sandbox")
}

/// A value of the sandbox's AWS state (`aws.json`), as text.
fn aws_state(state: &Path, pointer: &str) -> String {
    let aws: Value =
        serde_json::from_str(&std::fs::read_to_string(state.join("aws.json")).unwrap()).unwrap();
    aws.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no {pointer} in aws.json"))
        .to_string()
}

fn throughput() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    deployed(dir);
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
    let ip = aws_state(&dir.join(".runner/sandbox"), "/ga/accelerators/0/ips/0");
    let direct = wrk(&format!("http://{pod}/"));
    let through = wrk(&format!("http://{ip}/"));
    runner(dir, &["sandbox", "down"]);
    println!("direct to the pod: {}", direct.describe());
    println!("through accelerator -> ALB -> pod: {}", through.describe());
    // A figure with failed requests in it measures something else (fast 502s, resets):
    // the bench fails rather than print it as throughput.
    for (what, run) in [("direct", &direct), ("through the accelerator", &through)] {
        if run.errors() > 0 {
            eprintln!(
                "dataplane bench: {} failed requests {what}; no throughput figure",
                run.errors()
            );
            std::process::exit(1);
        }
    }
    println!(
        "requests per second: direct to the pod {:.0}; through accelerator -> ALB -> pod {:.0} ({:.0}% of direct; goal >= 50%)",
        direct.requests_per_second,
        through.requests_per_second,
        100.0 * through.requests_per_second / direct.requests_per_second
    );
}

/// How `n` connections opened at once, each sending one GET, were answered: a count per
/// status code, `connect`, `no answer` or `timeout` (10 s, wrk's `--timeout` below).
fn burst(addr: &str, n: usize) -> BTreeMap<String, usize> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let gets: Vec<_> = (0..n)
            .map(|_| tokio::spawn(one_get(addr.to_string())))
            .collect();
        let mut counts = BTreeMap::new();
        for get in gets {
            *counts.entry(get.await.unwrap()).or_default() += 1;
        }
        counts
    })
}

/// One GET on a new connection: the answer's status code, or what went wrong.
async fn one_get(addr: String) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let timeout = Duration::from_secs(10);
    let Ok(Ok(mut c)) = tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&addr)).await
    else {
        return "connect".into();
    };
    let request = "GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n";
    if c.write_all(request.as_bytes()).await.is_err() {
        return "connect".into();
    }
    let mut got = Vec::new();
    let read = tokio::time::timeout(timeout, async {
        let mut buf = [0u8; 512];
        while !got.contains(&b'\n') {
            match c.read(&mut buf).await {
                Ok(n) if n > 0 => got.extend_from_slice(&buf[..n]),
                _ => break,
            }
        }
    })
    .await;
    if read.is_err() {
        return "timeout".into();
    }
    String::from_utf8_lossy(&got)
        .split(' ')
        .nth(1)
        .map_or("no answer".into(), String::from)
}

/// 2,000 concurrent connections through the accelerator and at the primary ALB: every
/// request must get a 2xx. wrk runs longer than its timeout: a request stuck from the
/// start times out at 10 s, which a 10 s run ends before counting.
fn concurrency() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let state = deployed(dir);
    let targets = [
        (
            "through the accelerator",
            format!("{}:80", aws_state(&state, "/ga/accelerators/0/ips/0")),
        ),
        (
            "at the ALB",
            aws_state(&state, "/elbv2/load_balancers/0/listen"),
        ),
    ];
    let mut failed = false;
    for (what, addr) in &targets {
        let started = Instant::now();
        let counts = burst(addr, 2000);
        let answered = counts.get("200").copied().unwrap_or(0);
        println!(
            "2,000 connections at once, one GET each, {what}: {answered} answered 200 in {:.1} s; all: {counts:?}",
            started.elapsed().as_secs_f64()
        );
        failed |= answered != 2000;
        let run = wrk_with(
            &format!("http://{addr}/"),
            &["-t2", "-c2000", "-d20s", "--timeout", "10s"],
        );
        println!(
            "wrk -t2 -c2000 -d20s --timeout 10s {what}: {}",
            run.describe()
        );
        failed |= run.errors() > 0;
    }
    runner(dir, &["sandbox", "down"]);
    if failed {
        eprintln!("dataplane bench: requests failed at 2,000 concurrent connections");
        std::process::exit(1);
    }
}

/// Raises this process's soft limit on open files to its hard limit, for wrk and the
/// sandbox it starts (2,000 connections are 2,000 descriptors on each side).
fn raise_open_files_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read or write the one struct they are given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
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

/// The error counting itself, on a transcript of wrk 4.1 with errors: a parser that
/// missed them would let a failing run pass as a figure.
fn check_wrk_parser() {
    let transcript = "Running 10s test @ http://127.0.0.1/\n  2 threads and 32 connections\n  \
        Thread Stats   Avg      Stdev     Max   +/- Stdev\n    Latency     1.62ms    1.11ms  30.55ms   91.57%\n    \
        Req/Sec    10.47k     1.27k   13.50k    71.00%\n  208312 requests in 10.00s, 33.78MB read\n  \
        Socket errors: connect 0, read 3, write 0, timeout 7\n  Non-2xx or 3xx responses: 41\n\
        Requests/sec:  20823.47\nTransfer/sec:      3.38MB\n";
    let run = WrkRun::parse(transcript).unwrap();
    assert_eq!(run.requests, 208312);
    assert_eq!(run.non_2xx, 41);
    assert_eq!(run.socket_errors, [0, 3, 0, 7]);
    assert_eq!(run.errors(), 51);
    assert!((run.requests_per_second - 20823.47).abs() < 0.01);
}

fn main() {
    check_wrk_parser();
    raise_open_files_limit();
    throughput();
    concurrency();
    drill(Some(5));
    drill(None);
}
