//! `runner watch`, `runner policy test` and `runner policy new`: the routing-policy
//! commands (the machinery is in `crate::policy`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use runner_workflow::{DialGuard, PluginRef, Policy};

use super::output::{JsonLines, PlainLines};
use super::validate::{engine, engine_and_workflow};
use super::workflow_cmd::{How, connect};
use super::{
    EXIT_CANNOT_RUN, EXIT_INTERRUPTED, EXIT_INVALID, EXIT_OK, EXIT_STEP_FAILED, OutputFormat,
    WorkflowArgs,
};
use crate::capabilities::{Reach, StepHost};
use crate::cloud::CloudKind;
use crate::engine::WasmEngine;
use crate::exec::recorder::{EventSink, Recorder};
use crate::policy::harness::{self, Replay};
use crate::policy::runtime::PolicyRuntime;
use crate::policy::watch::{self, WatchOptions};
use crate::policy::{builtins, observation, template};
use crate::state::lock::LockError;
use crate::state::{AuditLog, StateLock};

/// Resolves and loads a policy; the error is printed and becomes exit 2.
pub(super) fn load_policy(
    engine: &Arc<WasmEngine>,
    policy: &PluginRef,
    recorder: Arc<Recorder>,
) -> Result<PolicyRuntime, u8> {
    let resolved = builtins::resolve(policy).map_err(|e| {
        eprintln!("error: {e}");
        EXIT_INVALID
    })?;
    let loaded = engine.load_policy(&resolved.bytes).map_err(|e| {
        eprintln!("error: policy {}: {e}", resolved.label);
        EXIT_INVALID
    })?;
    Ok(PolicyRuntime::new(
        engine.clone(),
        loaded,
        recorder,
        resolved.label,
    ))
}

fn sink(json: bool) -> Arc<dyn EventSink> {
    if json {
        Arc::new(JsonLines)
    } else {
        Arc::new(PlainLines::new())
    }
}

/// `runner watch FILE`.
pub async fn watch(
    state_dir: &Path,
    cache_dir: Option<PathBuf>,
    args: WorkflowArgs,
    cloud: CloudKind,
    ticks: Option<u64>,
    record: Option<PathBuf>,
) -> u8 {
    let (engine, wf) = match engine_and_workflow(cache_dir, &args, false) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let Some(policy) = wf.policy.clone() else {
        eprintln!(
            "error: {} has no [policy] table: add one naming the policy and the accelerator (README.md, \"Routing policies\")",
            args.file.display()
        );
        return EXIT_INVALID;
    };
    let json = args.output == OutputFormat::Json;
    // One loop per accelerator per state directory: two would undo each other's moves.
    let lock_dir = state_dir
        .join("locks")
        .join(format!("watch-{}", policy.accelerator));
    let what = format!(
        "watch {} (accelerator `{}`)",
        args.file.display(),
        policy.accelerator
    );
    let _lock = match StateLock::acquire(&lock_dir, &what) {
        Ok(lock) => lock,
        Err(LockError::Busy { holder, .. }) => {
            eprintln!(
                "error: accelerator `{}` is already being watched from {} ({holder}); stop that loop first",
                policy.accelerator,
                state_dir.display()
            );
            return EXIT_CANNOT_RUN;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_CANNOT_RUN;
        }
    };
    let id = format!("watch-{}", crate::events::now_ms());
    let dir = state_dir.join("watch").join(&id);
    let audit = match std::fs::create_dir_all(&dir)
        .and_then(|()| AuditLog::create(&dir.join("audit.ndjson")))
    {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: creating {}: {e}", dir.display());
            return EXIT_CANNOT_RUN;
        }
    };
    let recorder = Arc::new(Recorder::audit_only(id, audit, sink(json)));
    let runtime = match load_policy(&engine, &policy.plugin, recorder.clone()) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let how = How {
        fresh: false,
        jobs: 1,
        cloud,
    };
    let cloud = match connect(&how, &wf, state_dir).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            eprintln!(
                "error: [policy] of {} grants nothing: it needs at least a global_accelerator grant for `{}`",
                args.file.display(),
                policy.accelerator
            );
            return EXIT_INVALID;
        }
        Err(code) => return code,
    };
    let reach = Reach {
        grants: Arc::new(policy.grants.clone()),
        cloud: Some(cloud),
    };
    let mut host = StepHost::new("policy".into(), recorder, Default::default(), reach);
    if !json {
        eprintln!("{}", describe(&policy, &runtime.label, &dir));
    }
    let options = WatchOptions {
        ticks,
        record,
        json,
    };
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = stop_tx.send(true);
        }
    });
    let audit = dir.join("audit.ndjson");
    match watch::run(&policy, &runtime, &mut host, &options, stop).await {
        Ok(ended) if ended.stopped => {
            eprintln!("stopped; every applied change is in {}", audit.display());
            EXIT_INTERRUPTED
        }
        Ok(ended) if ended.failures == 0 => EXIT_OK,
        Ok(ended) => {
            eprintln!(
                "{} tick(s) failed to observe, decide or apply; see above and {}",
                ended.failures,
                audit.display()
            );
            EXIT_STEP_FAILED
        }
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_CANNOT_RUN
        }
    }
}

/// The loop's settings, printed when it starts.
fn describe(policy: &Policy, label: &str, dir: &Path) -> String {
    let guard = policy.grants.dial_guard(&policy.accelerator, &[]);
    let rails = if guard.is_open() {
        "none".to_string()
    } else {
        format!(
            "max_dial_step {:?}, min_dial {:?}, max_dial {:?}, regions {:?}",
            guard.max_step, guard.min, guard.max, guard.regions
        )
    };
    format!(
        "watching accelerator `{}` with policy `{label}` every {}; guard rails: {rails}; audit: {}",
        policy.accelerator,
        crate::engine::outcome::duration(policy.every),
        dir.join("audit.ndjson").display()
    )
}

/// `runner policy test POLICY --observations FILE`.
pub struct TestArgs {
    pub policy: String,
    pub observations: PathBuf,
    pub with: Option<String>,
    pub guard: DialGuard,
    pub as_recorded: bool,
    pub output: OutputFormat,
}

pub async fn test(cache_dir: Option<PathBuf>, args: TestArgs) -> u8 {
    let params = match args.with.as_deref().map(harness::params).transpose() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_INVALID;
        }
    };
    let observations = match observation::read(&args.observations) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_INVALID;
        }
    };
    let engine = match engine(cache_dir) {
        Ok(e) => Arc::new(e),
        Err(code) => return code,
    };
    let json = args.output == OutputFormat::Json;
    let recorder = Arc::new(Recorder::detached_with(sink(json)));
    let runtime = match load_policy(&engine, &builtins::policy_ref(&args.policy), recorder) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let replay = Replay {
        params,
        guard: args.guard,
        as_recorded: args.as_recorded,
        json,
    };
    match harness::replay(&runtime, observations, &replay).await {
        0 => EXIT_OK,
        n => {
            eprintln!("{n} decision(s) failed");
            EXIT_STEP_FAILED
        }
    }
}

/// `runner policy new DIR`.
pub fn new(dir: &Path) -> u8 {
    match template::write(dir) {
        Ok(()) => {
            println!("wrote a routing-policy crate to {}; next:", dir.display());
            println!(
                "  cd {} && cargo build --release --target wasm32-wasip2",
                dir.display()
            );
            println!(
                "  runner policy test target/wasm32-wasip2/release/my_policy.wasm --observations observations.ndjson"
            );
            EXIT_OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_INVALID
        }
    }
}
