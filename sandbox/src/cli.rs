//! `runner sandbox up|down|status|env|kubeconfig|reset`: run the local cloud in the
//! foreground or in the background, and hand its endpoints to other tools
//! (`eval "$(runner sandbox env)"`), kind/k3d style.
//!
//! Exit codes: 0 success; 2 invalid input (a `--faults` spec that does not parse); 3
//! an error, or `status` found the sandbox stopped.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::{SandboxConfig, parse_cluster};
use crate::faults::{Counts, FAULTS_FILE, FaultConfig};
use crate::{
    AWS_STATE_FILE, CONFIG_FILE, ENDPOINTS_FILE, Endpoints, KUBECONFIG_FILE, PORTS_FILE, Sandbox,
    persist,
};

pub const PID_FILE: &str = "sandbox.pid";
/// Set in the environment of the background process that `up --detach` starts.
pub const DETACHED_ENV: &str = "RUNNER_SANDBOX_DETACHED";
pub const LOG_FILE: &str = "sandbox.log";
/// Exit code of `status` when the sandbox is not running.
pub const EXIT_STOPPED: u8 = 3;
/// Exit code of `up` given invalid input (a bad `--faults` spec), as runner's own.
pub const EXIT_INVALID: u8 = 2;

#[derive(Debug, Clone, Subcommand)]
pub enum SandboxCommand {
    /// Start the sandbox and print its endpoints; runs until Ctrl-C unless --detach.
    Up {
        /// Run in the background (log in <state dir>/sandbox/sandbox.log) and return once it answers.
        #[arg(long)]
        detach: bool,
        /// A cluster as NAME=REGION; repeat for several. Replaces the saved cluster list.
        /// Default: primary=us-east-1 and secondary=us-east-2.
        #[arg(long = "cluster", value_name = "NAME=REGION")]
        clusters: Vec<String>,
        /// How long asynchronous transitions take (accelerator DEPLOYED, record INSYNC,
        /// ALB active, pod ready), in milliseconds. Saved for later starts.
        #[arg(long, env = "RUNNER_SANDBOX_DELAY_MS", value_name = "MS")]
        delay_ms: Option<u64>,
        /// The region Global Accelerator treats as the clients' nearest (e.g. us-east-2):
        /// each new connection to an accelerator is routed from there. Saved for later
        /// starts. Default: the first cluster's region.
        #[arg(long, value_name = "REGION")]
        home_region: Option<String>,
        /// Inject faults into the AWS and Kubernetes APIs, e.g.
        /// `throttle=0.05,5xx=0.03,reset-after=0.02,kube.patch:conflict=0.1`, or `@FILE`.
        /// Items are [SCOPE:]KIND=RATE with SCOPE `*`, `aws`, a service (ga, route53,
        /// elbv2, sts, kube) or SERVICE.OPERATION; KIND throttle, 5xx, reset-before,
        /// reset-after, latency, conflict, gone, drop-watch; plus latency-ms=MS and
        /// retry-after=SECONDS. Counts go to <state dir>/sandbox/faults.json. For this
        /// start only: `up` without it runs clean.
        #[arg(long, value_name = "SPEC")]
        faults: Option<String>,
        /// The seed of --faults: the same seed and the same calls give the same faults.
        #[arg(long, value_name = "N", requires = "faults", default_value_t = 0)]
        seed: u64,
    },
    /// Stop a sandbox started with `up` (SIGTERM, then wait for it to save and exit).
    Down,
    /// Say whether the sandbox runs, with its endpoints, clusters and resource counts.
    Status,
    /// Print `export` lines for the aws CLI, SDKs and kubectl: eval "$(runner sandbox env)".
    Env,
    /// Print the kubeconfig (one context per cluster, `sandbox-<name>`).
    Kubeconfig,
    /// Delete every AWS resource and Kubernetes object (the sandbox must be stopped).
    /// Clusters, ports and the delay setting are kept.
    Reset,
}

/// Runs one `runner sandbox` command against the sandbox kept in `sandbox_dir`.
pub async fn run(cmd: SandboxCommand, sandbox_dir: PathBuf) -> Result<ExitCode> {
    match cmd {
        SandboxCommand::Up {
            detach,
            clusters,
            delay_ms,
            home_region,
            faults,
            seed,
        } => {
            // Checked before anything is created or started.
            let faults = match faults.map(|f| FaultConfig::from_arg(&f, seed)).transpose() {
                Ok(f) => f,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(ExitCode::from(EXIT_INVALID));
                }
            };
            let flags = Flags {
                clusters,
                delay_ms,
                home_region,
                faults,
            };
            up(&sandbox_dir, detach, flags).await
        }
        SandboxCommand::Down => down(&sandbox_dir).await,
        SandboxCommand::Status => status(&sandbox_dir).await,
        SandboxCommand::Env => {
            let ep = saved_endpoints(&sandbox_dir)?;
            print!("{}", env_lines(&ep));
            Ok(ExitCode::SUCCESS)
        }
        SandboxCommand::Kubeconfig => {
            let path = sandbox_dir.join(KUBECONFIG_FILE);
            let text = std::fs::read_to_string(&path).with_context(|| {
                format!(
                    "reading {}; start the sandbox once with `runner sandbox up`",
                    path.display()
                )
            })?;
            print!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        SandboxCommand::Reset => reset(&sandbox_dir).await,
    }
}

/// How to run another `sandbox` subcommand the way this one was run (same program,
/// same global flags such as `--state-dir`), for the hints `up` prints.
fn same_command(sub: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    let Some(up) = args.iter().position(|a| a == "up") else {
        return format!("runner sandbox {sub}");
    };
    let mut words: Vec<String> = args[..up].to_vec();
    if let Some(first) = words.first_mut() {
        *first = Path::new(first.as_str())
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
    }
    words.push(sub.to_string());
    let quote = |w: &String| {
        if !w.is_empty()
            && w.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./=:@%+,".contains(c))
        {
            w.clone()
        } else {
            format!("'{}'", w.replace('\'', "'\\''"))
        }
    };
    words.iter().map(quote).collect::<Vec<_>>().join(" ")
}

/// The shell lines `env` prints.
pub fn env_lines(ep: &Endpoints) -> String {
    let q = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
    let mut out = String::new();
    for var in [
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_GLOBAL_ACCELERATOR",
        "AWS_ENDPOINT_URL_ROUTE_53",
        "AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2",
        "AWS_ENDPOINT_URL_STS",
    ] {
        out += &format!("export {var}={}\n", q(&ep.aws));
    }
    out += &format!("export AWS_ACCESS_KEY_ID={}\n", q(&ep.access_key_id));
    out += &format!(
        "export AWS_SECRET_ACCESS_KEY={}\n",
        q(&ep.secret_access_key)
    );
    out += "unset AWS_SESSION_TOKEN AWS_PROFILE\n";
    out += &format!("export AWS_REGION={}\n", q(&ep.region));
    out += &format!("export AWS_DEFAULT_REGION={}\n", q(&ep.region));
    out += &format!(
        "export KUBECONFIG={}\n",
        q(&ep.kubeconfig.display().to_string())
    );
    out
}

fn saved_endpoints(dir: &Path) -> Result<Endpoints> {
    persist::load(&dir.join(ENDPOINTS_FILE))?.with_context(|| {
        format!(
            "the sandbox in {} has never been started; run `runner sandbox up --detach`",
            dir.display()
        )
    })
}

fn describe(ep: &Endpoints, dir: &Path) -> String {
    let mut out = format!(
        "AWS (Global Accelerator, Route 53, ELBv2, STS): {}\n",
        ep.aws
    );
    for c in &ep.clusters {
        out += &format!(
            "cluster {} ({}): {}  context {}\n",
            c.name, c.region, c.url, c.context
        );
    }
    if let Some((_, port)) = ep.dataplane.dns.rsplit_once(':') {
        out += &format!(
            "DNS (hosted zones, accelerator and ALB names): {} udp+tcp  e.g. dig @127.0.0.1 -p {port} multi-region.example.com\n",
            ep.dataplane.dns
        );
    }
    out += &format!("kubeconfig: {}\n", ep.kubeconfig.display());
    out += &format!("state: {}\n", dir.display());
    out
}

/// The flags of `up` that shape the configuration.
#[derive(Debug, Default)]
struct Flags {
    /// NAME=REGION; empty: the saved (or default) clusters.
    clusters: Vec<String>,
    delay_ms: Option<u64>,
    home_region: Option<String>,
    /// Not saved for later starts: a sandbox started without `--faults` runs clean.
    faults: Option<FaultConfig>,
}

/// The configuration to start with: the saved one (or the default) plus flags.
fn effective_config(dir: &Path, flags: Flags) -> Result<SandboxConfig> {
    let mut cfg = SandboxConfig::load_or_new(dir.to_path_buf())?;
    if !flags.clusters.is_empty() {
        cfg.clusters = flags
            .clusters
            .iter()
            .map(|c| parse_cluster(c))
            .collect::<Result<_>>()?;
    }
    if let Some(ms) = flags.delay_ms {
        cfg.transition_delay = Duration::from_millis(ms);
    }
    if let Some(region) = flags.home_region {
        cfg.home_region = Some(region.trim().to_string());
    }
    cfg.faults = flags.faults;
    crate::config::validate(&cfg)?;
    Ok(cfg)
}

/// `faults: ...` for what a faulted sandbox injected so far: `live` (a running
/// sandbox's health report) when given, else `faults.json` (written every 200 ms, and
/// at the end).
fn faults_line(dir: &Path, live: Option<&serde_json::Value>) -> Option<String> {
    let c: Counts = match live.map(|h| serde_json::from_value(h["faults"].clone())) {
        Some(Ok(c)) => c,
        _ => persist::load(&dir.join(FAULTS_FILE)).ok()??,
    };
    let kinds: Vec<String> = c.by_kind.iter().map(|(k, n)| format!("{k} {n}")).collect();
    Some(format!(
        "faults: {} injected in {} calls (seed {}{}{}; {})\n",
        c.injected,
        c.calls,
        c.seed,
        if kinds.is_empty() { "" } else { ": " },
        kinds.join(", "),
        crate::faults::spec::items(&c.spec)
            .collect::<Vec<_>>()
            .join(",")
    ))
}

/// The pid of a running sandbox on this directory, if any.
fn running_pid(dir: &Path) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(dir.join(PID_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    // SAFETY: kill with signal 0 only checks that the process exists.
    let alive = pid > 0 && unsafe { libc::kill(pid, 0) } == 0;
    alive.then_some(pid)
}

/// Whether the AWS endpoint answers its health check.
async fn answers(aws_url: &str) -> bool {
    health(aws_url).await.is_some()
}

/// The AWS endpoint's health report (resources, requests, live fault counts), when it
/// answers within 2 s.
async fn health(aws_url: &str) -> Option<serde_json::Value> {
    let addr = aws_url.strip_prefix("http://")?;
    let probe = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        s.write_all(
            format!("GET /_sandbox/health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .ok()?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.ok()?;
        if !buf.starts_with(b"HTTP/1.1 200") {
            return None;
        }
        let text = String::from_utf8_lossy(&buf);
        let (_, body) = text.split_once("\r\n\r\n")?;
        Some(serde_json::from_str(body).unwrap_or_default())
    };
    tokio::time::timeout(Duration::from_secs(2), probe)
        .await
        .ok()
        .flatten()
}

async fn up(dir: &Path, detach: bool, flags: Flags) -> Result<ExitCode> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    if let Some(pid) = running_pid(dir) {
        let ep = saved_endpoints(dir)?;
        eprintln!("The sandbox is already running (pid {pid}).");
        if flags.faults.is_some() {
            eprintln!(
                "note: --faults applies to a new start; stop this one first (`{}`)",
                same_command("down")
            );
        }
        print!("{}", describe(&ep, dir));
        return Ok(ExitCode::SUCCESS);
    }
    let cfg = effective_config(dir, flags)?;
    if detach {
        return up_detached(dir).await;
    }
    std::fs::write(dir.join(PID_FILE), std::process::id().to_string())?;
    let result = serve_foreground(cfg, dir).await;
    let _ = std::fs::remove_file(dir.join(PID_FILE));
    result
}

async fn serve_foreground(cfg: SandboxConfig, dir: &Path) -> Result<ExitCode> {
    let handle = Sandbox::start(cfg).await?;
    println!(
        "Sandbox running. Stop it with Ctrl-C or `{}`.",
        same_command("down")
    );
    print!("{}", describe(handle.endpoints(), dir));
    print!("{}", faults_line(dir, None).unwrap_or_default());
    println!("Use it from a shell: eval \"$({})\"", same_command("env"));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    println!("Stopping the sandbox and saving its state...");
    handle.shutdown().await?;
    println!("Sandbox stopped.");
    Ok(ExitCode::SUCCESS)
}

/// Re-executes this program without `--detach` in a new session, logging to the
/// sandbox dir, and waits until it answers.
async fn up_detached(dir: &Path) -> Result<ExitCode> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--detach")
        .collect();
    let (pid, ep) = spawn_detached(dir, &args).await?;
    println!(
        "Sandbox running in the background (pid {pid}, log {}).",
        dir.join(LOG_FILE).display()
    );
    print!("{}", describe(&ep, dir));
    print!("{}", faults_line(dir, None).unwrap_or_default());
    println!(
        "Use it from a shell: eval \"$({})\"; stop it with `{}`.",
        same_command("env"),
        same_command("down")
    );
    Ok(ExitCode::SUCCESS)
}

/// Runs this program with `args` (a foreground `sandbox up` for `dir`) in a new session
/// in the background, logging to the sandbox dir; returns its pid and endpoints once it
/// answers.
async fn spawn_detached(dir: &Path, args: &[String]) -> Result<(u32, Endpoints)> {
    use std::os::unix::process::CommandExt;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let exe =
        std::env::current_exe().context("finding this program to run it in the background")?;
    let log_path = dir.join(LOG_FILE);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)?;
    let _ = std::fs::remove_file(dir.join(ENDPOINTS_FILE));
    let mut cmd = std::process::Command::new(exe);
    cmd.args(args)
        .env(DETACHED_ENV, "1")
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // SAFETY: setsid is async-signal-safe; it detaches the child from our terminal so
    // Ctrl-C in this shell does not reach it.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .context("starting the sandbox in the background")?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait()? {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            let tail: Vec<&str> = log
                .lines()
                .rev()
                .take(20)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            bail!(
                "the sandbox exited during start-up ({status}); last lines of {}:\n{}",
                log_path.display(),
                tail.join("\n")
            );
        }
        if let Ok(Some(ep)) = persist::load::<Endpoints>(&dir.join(ENDPOINTS_FILE))
            && answers(&ep.aws).await
        {
            return Ok((child.id(), ep));
        }
        if Instant::now() > deadline {
            bail!(
                "the sandbox did not answer within 60 s; see {}",
                log_path.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How `runner exec` found the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attached {
    /// It was running already (started by `sandbox up`, another run, or a test).
    Running,
    /// It was not; this call started it in the background, where it stays.
    Started,
}

/// The sandbox in `dir` for a run: its endpoints when it answers, else it is started in
/// the background with `clusters` (NAME=REGION; empty: the saved or default ones).
/// `global_args` are the flags the child needs before `sandbox up` (`--state-dir`).
pub async fn attach_or_start(
    dir: &Path,
    global_args: &[String],
    clusters: &[String],
) -> Result<(Endpoints, Attached)> {
    if let Ok(Some(ep)) = persist::load::<Endpoints>(&dir.join(ENDPOINTS_FILE))
        && answers(&ep.aws).await
    {
        return Ok((ep, Attached::Running));
    }
    if let Some(pid) = running_pid(dir) {
        bail!(
            "the sandbox in {} (pid {pid}) is running but does not answer; see {} or restart it with `runner sandbox down`",
            dir.display(),
            dir.join(LOG_FILE).display()
        );
    }
    // Checked here so a bad cluster list is reported by this process, not in a log.
    effective_config(
        dir,
        Flags {
            clusters: clusters.to_vec(),
            ..Flags::default()
        },
    )?;
    let mut args = global_args.to_vec();
    args.extend(["sandbox".to_string(), "up".to_string()]);
    for c in clusters {
        args.extend(["--cluster".to_string(), c.clone()]);
    }
    let (_, ep) = spawn_detached(dir, &args).await?;
    Ok((ep, Attached::Started))
}

async fn down(dir: &Path) -> Result<ExitCode> {
    let Some(pid) = running_pid(dir) else {
        println!("The sandbox is not running.");
        let _ = std::fs::remove_file(dir.join(PID_FILE));
        return Ok(ExitCode::SUCCESS);
    };
    // SAFETY: sending SIGTERM to the pid recorded by our own `up`.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(20);
    while running_pid(dir) == Some(pid) && !exited(pid) {
        if Instant::now() > deadline {
            bail!(
                "the sandbox (pid {pid}) did not stop within 20 s after SIGTERM; see {}",
                dir.join(LOG_FILE).display()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = std::fs::remove_file(dir.join(PID_FILE));
    println!(
        "Sandbox stopped (pid {pid}); its state is kept in {}.",
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Whether `pid` is gone (or a zombie of ours).
fn exited(pid: i32) -> bool {
    // SAFETY: signal 0 only checks existence.
    if unsafe { libc::kill(pid, 0) } != 0 {
        return true;
    }
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.contains(") Z "))
        .unwrap_or(true)
}

async fn status(dir: &Path) -> Result<ExitCode> {
    let ep: Option<Endpoints> = persist::load(&dir.join(ENDPOINTS_FILE))?;
    let pid = running_pid(dir);
    let report = match (&pid, &ep) {
        (Some(_), Some(ep)) => health(&ep.aws).await,
        _ => None,
    };
    let running = report.is_some();
    match (running, pid) {
        (true, Some(pid)) => println!("Sandbox: running (pid {pid})"),
        (false, Some(pid)) => println!("Sandbox: starting or not answering (pid {pid})"),
        _ => println!("Sandbox: stopped (these endpoints come back with the next `up`)"),
    }
    match &ep {
        Some(ep) => print!("{}", describe(ep, dir)),
        None => println!("It has never been started in {}.", dir.display()),
    }
    if let Some(state) = persist::load::<crate::aws::AwsState>(&dir.join(AWS_STATE_FILE))? {
        let c = state.counts();
        println!(
            "AWS resources: {} accelerators, {} listeners, {} endpoint groups, {} hosted zones ({} record sets), {} load balancers, {} target groups",
            c.accelerators,
            c.listeners,
            c.endpoint_groups,
            c.hosted_zones,
            c.record_sets,
            c.load_balancers,
            c.target_groups
        );
    }
    for line in crate::dataplane::accelerator::status_lines(dir) {
        println!("{line}");
    }
    print!("{}", faults_line(dir, report.as_ref()).unwrap_or_default());
    Ok(if running {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_STOPPED)
    })
}

async fn reset(dir: &Path) -> Result<ExitCode> {
    if let Some(pid) = running_pid(dir) {
        bail!(
            "the sandbox is running (pid {pid}); stop it first with `runner sandbox down`, then reset"
        );
    }
    let mut removed = 0;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let resource_state =
                name == AWS_STATE_FILE || (name.starts_with("kube-") && name.ends_with(".json"));
            if resource_state {
                std::fs::remove_file(e.path())
                    .with_context(|| format!("removing {}", e.path().display()))?;
                removed += 1;
            }
        }
    }
    println!(
        "Sandbox reset: removed {removed} state files from {}; kept {CONFIG_FILE} (clusters, delay) and {PORTS_FILE} (endpoints).",
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
