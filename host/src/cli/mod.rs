//! The `runner` command line. Exit codes are defined here, once:
//!
//! | code | meaning |
//! |------|---------|
//! | 0    | success |
//! | 1    | a step failed |
//! | 2    | invalid input or usage (workflow, flags, variables) |
//! | 3    | could not run: the state directory is locked, or an I/O or internal error |
//! | 130  | interrupted (Ctrl-C) |

mod output;
mod policy_cmd;
mod runs;
mod validate;
mod workflow_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use output::OutputFormat;

use crate::cloud::CloudKind;

pub const EXIT_OK: u8 = 0;
pub const EXIT_STEP_FAILED: u8 = 1;
pub const EXIT_INVALID: u8 = 2;
pub const EXIT_CANNOT_RUN: u8 = 3;
pub const EXIT_INTERRUPTED: u8 = 130;

#[derive(Debug, Parser)]
#[command(
    name = "runner",
    version,
    about = "Run TOML workflows whose steps are sandboxed WebAssembly components."
)]
#[command(
    after_help = "Exit codes: 0 success, 1 a step failed, 2 invalid input or usage, 3 could not run (state locked, I/O error), 130 interrupted."
)]
pub struct Cli {
    /// Where runs, journals, audit logs and the lock are kept.
    #[arg(
        long,
        global = true,
        env = "RUNNER_STATE_DIR",
        default_value = ".runner"
    )]
    pub state_dir: PathBuf,
    /// Where compiled plugins are cached (default: $XDG_CACHE_HOME/runner or ~/.cache/runner).
    #[arg(long, global = true, env = "RUNNER_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Args)]
pub struct WorkflowArgs {
    /// The workflow file.
    pub file: PathBuf,
    /// Override a workflow variable (repeatable).
    #[arg(long = "var", value_name = "KEY=VALUE", value_parser = parse_var)]
    pub vars: Vec<(String, String)>,
    /// human: progress on stderr, summary on stdout; json: versioned NDJSON events on stdout.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Human)]
    pub output: OutputFormat,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a workflow; resumes the last run of it if that one failed or was killed.
    Exec {
        #[command(flatten)]
        args: WorkflowArgs,
        /// Run every step again instead of resuming.
        #[arg(long)]
        fresh: bool,
        /// Steps running at once.
        #[arg(long, default_value_t = 16)]
        jobs: usize,
        /// Where cloud calls go: the local sandbox (started in the background if needed)
        /// or real AWS and EKS (never a default).
        #[arg(long, value_enum, default_value_t = CloudKind::Sandbox)]
        cloud: CloudKind,
    },
    /// Undo what a workflow's runs made, in reverse dependency order.
    Destroy {
        #[command(flatten)]
        args: WorkflowArgs,
        #[arg(long, default_value_t = 16)]
        jobs: usize,
        /// As for `exec`.
        #[arg(long, value_enum, default_value_t = CloudKind::Sandbox)]
        cloud: CloudKind,
    },
    /// Check a workflow and report every problem at once.
    Validate {
        #[command(flatten)]
        args: WorkflowArgs,
    },
    /// List runs in the state directory.
    Runs {
        #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Human)]
        output: OutputFormat,
    },
    /// Print a run's events (RUN: an id, a unique prefix of one, or `latest`).
    Logs {
        run: String,
        #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Human)]
        output: OutputFormat,
    },
    /// List the built-in plugins.
    Plugins {
        #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Human)]
        output: OutputFormat,
    },
    /// Run the workflow's [policy] as a reconcile loop: observe the accelerator every
    /// `every`, let the policy decide, apply its decision within the guard rails.
    Watch {
        #[command(flatten)]
        args: WorkflowArgs,
        /// Stop after this many observations (default: until Ctrl-C).
        #[arg(long)]
        ticks: Option<u64>,
        /// Append every observation to FILE (NDJSON), to replay with `runner policy test`.
        #[arg(long, value_name = "FILE")]
        record: Option<PathBuf>,
        /// As for `exec`.
        #[arg(long, value_enum, default_value_t = CloudKind::Sandbox)]
        cloud: CloudKind,
    },
    /// Routing policies: test one offline, or start a new one from the template.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// The embedded local cloud: Kubernetes and AWS APIs on loopback (kept in <state-dir>/sandbox).
    Sandbox {
        #[command(subcommand)]
        command: runner_sandbox::cli::SandboxCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Run a policy over recorded observations and print its decisions; nothing is sent.
    Test {
        /// A built-in policy (active-failover, weighted, latency) or a .wasm file.
        policy: String,
        /// Observations, one JSON object per line (what `runner watch --record` writes).
        #[arg(long, value_name = "FILE")]
        observations: PathBuf,
        /// The policy's parameters as a JSON object (default: each observation's recorded params).
        #[arg(long, value_name = "JSON")]
        with: Option<String>,
        /// Guard rail: the most a dial may move per decision, in percentage points.
        #[arg(long, value_name = "POINTS")]
        max_dial_step: Option<f32>,
        /// Guard rail: no dial below this.
        #[arg(long, value_name = "PERCENT")]
        min_dial: Option<f32>,
        /// Guard rail: no dial above this.
        #[arg(long, value_name = "PERCENT")]
        max_dial: Option<f32>,
        /// Replay the observations as recorded instead of carrying each decision forward.
        #[arg(long)]
        as_recorded: bool,
        #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Human)]
        output: OutputFormat,
    },
    /// Write a new routing-policy crate (from the template) into DIR.
    New { dir: PathBuf },
}

fn parse_var(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got `{s}`")),
    }
}

/// Parses the command line and runs it; errors become a message and an exit code.
pub fn main() -> ExitCode {
    // `runner ... | head` ends quietly, as CLI tools do, instead of panicking on EPIPE.
    // SAFETY: restoring the default disposition of one signal before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    // One TLS provider for the AWS SDK, kube and probes: with two compiled in, rustls
    // cannot pick and the first TLS connection panics.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(EXIT_CANNOT_RUN);
        }
    };
    runtime.block_on(async move {
        let code = match cli.command {
            Command::Exec {
                args,
                fresh,
                jobs,
                cloud,
            } => {
                let how = workflow_cmd::How { fresh, jobs, cloud };
                workflow_cmd::exec(&cli.state_dir, cli.cache_dir, args, how).await
            }
            Command::Destroy { args, jobs, cloud } => {
                let how = workflow_cmd::How {
                    fresh: false,
                    jobs,
                    cloud,
                };
                workflow_cmd::destroy(&cli.state_dir, cli.cache_dir, args, how).await
            }
            Command::Validate { args } => validate::validate(cli.cache_dir, args).await,
            Command::Runs { output } => runs::list(&cli.state_dir, output),
            Command::Logs { run, output } => runs::logs(&cli.state_dir, &run, output),
            Command::Plugins { output } => runs::plugins(cli.cache_dir, output),
            Command::Watch {
                args,
                ticks,
                record,
                cloud,
            } => policy_cmd::watch(&cli.state_dir, cli.cache_dir, args, cloud, ticks, record).await,
            Command::Policy { command } => match command {
                PolicyCommand::Test {
                    policy,
                    observations,
                    with,
                    max_dial_step,
                    min_dial,
                    max_dial,
                    as_recorded,
                    output,
                } => {
                    let guard = runner_workflow::DialGuard {
                        max_step: max_dial_step,
                        min: min_dial,
                        max: max_dial,
                        regions: Vec::new(),
                    };
                    let args = policy_cmd::TestArgs {
                        policy,
                        observations,
                        with,
                        guard,
                        as_recorded,
                        output,
                    };
                    policy_cmd::test(cli.cache_dir, args).await
                }
                PolicyCommand::New { dir } => policy_cmd::new(&dir),
            },
            Command::Sandbox { command } => {
                // Absolute, so the kubeconfig path it prints works from any directory.
                let dir = std::path::absolute(cli.state_dir.join("sandbox"))
                    .unwrap_or_else(|_| cli.state_dir.join("sandbox"));
                return match runner_sandbox::cli::run(command, dir).await {
                    Ok(code) => code,
                    Err(e) => {
                        eprintln!("error: {e:#}");
                        ExitCode::from(EXIT_CANNOT_RUN)
                    }
                };
            }
        };
        ExitCode::from(code)
    })
}

/// Diagnostics of runner itself (not of plugins) go to stderr, filtered by RUST_LOG.
fn init_tracing() {
    // kube-rs logs every failed attempt at ERROR; the host retries those (cloud::retry,
    // which logs at debug) and reports the final failure as the step's error.
    let filter = if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::EnvFilter::builder()
            .with_default_directive(tracing::level_filters::LevelFilter::WARN.into())
            .from_env_lossy()
    } else {
        tracing_subscriber::EnvFilter::new("warn,kube_client::client::builder=off")
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
