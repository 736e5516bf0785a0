//! `runner exec` and `runner destroy`: validate, take the state lock, run, report.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::output::{JsonLines, LiveProgress, PlainLines};
use super::validate::engine_and_workflow;
use super::{
    EXIT_CANNOT_RUN, EXIT_INTERRUPTED, EXIT_INVALID, EXIT_OK, EXIT_STEP_FAILED, OutputFormat,
    WorkflowArgs,
};
use crate::cloud::{self, Cloud, CloudKind, ConnectError};
use crate::events::{RunStatus, StepStatus};
use crate::exec::recorder::EventSink;
use crate::exec::{self, ExecOptions, Loaded, RunResult};
use crate::state::{StateDir, StateLock};

fn sink(format: OutputFormat) -> Arc<dyn EventSink> {
    match format {
        OutputFormat::Json => Arc::new(JsonLines),
        OutputFormat::Human if std::io::stderr().is_terminal() => Arc::new(LiveProgress::new()),
        OutputFormat::Human => Arc::new(PlainLines::new()),
    }
}

#[derive(Clone, Copy)]
enum Verb {
    Exec,
    Destroy,
}

/// How to run: `exec`'s and `destroy`'s flags.
#[derive(Debug, Clone, Copy)]
pub struct How {
    pub fresh: bool,
    pub jobs: usize,
    pub cloud: CloudKind,
}

pub async fn exec(
    state_dir: &Path,
    cache_dir: Option<PathBuf>,
    args: WorkflowArgs,
    how: How,
) -> u8 {
    run(Verb::Exec, state_dir, cache_dir, args, how).await
}

pub async fn destroy(
    state_dir: &Path,
    cache_dir: Option<PathBuf>,
    args: WorkflowArgs,
    how: How,
) -> u8 {
    run(Verb::Destroy, state_dir, cache_dir, args, how).await
}

/// The run's cloud, when the workflow uses one.
pub(super) async fn connect(
    how: &How,
    wf: &runner_workflow::Workflow,
    state_dir: &Path,
) -> Result<Option<Arc<Cloud>>, u8> {
    if !cloud::connect::needed(wf) {
        return Ok(None);
    }
    let state_abs = std::path::absolute(state_dir).unwrap_or_else(|_| state_dir.to_path_buf());
    let global_args = vec!["--state-dir".to_string(), state_abs.display().to_string()];
    match cloud::connect::connect(how.cloud, wf, state_dir, &global_args).await {
        Ok(c) => Ok(Some(Arc::new(c))),
        Err(e @ ConnectError::Invalid(_)) => {
            eprintln!("error: {e}");
            Err(EXIT_INVALID)
        }
        Err(e @ ConnectError::Unavailable(_)) => {
            eprintln!("error: {e}");
            Err(EXIT_CANNOT_RUN)
        }
    }
}

async fn run(
    verb: Verb,
    state_dir: &Path,
    cache_dir: Option<PathBuf>,
    args: WorkflowArgs,
    how: How,
) -> u8 {
    let (engine, wf) = match engine_and_workflow(cache_dir, &args, true) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let what = match verb {
        Verb::Exec => "exec",
        Verb::Destroy => "destroy",
    };
    let lock = match StateLock::acquire(state_dir, &format!("{what} {}", args.file.display())) {
        Ok(lock) => lock,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_CANNOT_RUN;
        }
    };
    if let Some(previous) = &lock.taken_over_from {
        eprintln!(
            "note: the previous runner on {} ({previous}) did not exit cleanly; taking over its lock",
            state_dir.display()
        );
    }
    let loaded = match Loaded::new(&engine, &wf) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e:#}");
            return EXIT_CANNOT_RUN;
        }
    };
    let cloud = match connect(&how, &wf, state_dir).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    let options = ExecOptions {
        fresh: how.fresh,
        jobs: how.jobs,
        cloud,
    };
    let state = StateDir::new(state_dir);
    let sink = sink(args.output);
    let work = async {
        match verb {
            Verb::Exec => exec::exec(engine.clone(), &wf, &loaded, &state, sink, &options).await,
            Verb::Destroy => {
                exec::destroy(engine.clone(), &wf, &loaded, &state, sink, &options).await
            }
        }
    };
    let result = tokio::select! {
        r = work => r,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("interrupted: completed steps are journaled; run `runner {what} {}` again to resume", args.file.display());
            return EXIT_INTERRUPTED;
        }
    };
    drop(lock);
    match result {
        Ok(result) => {
            if args.output == OutputFormat::Human {
                print_summary(&result);
            }
            match result.status {
                RunStatus::Succeeded => EXIT_OK,
                RunStatus::Failed => EXIT_STEP_FAILED,
                RunStatus::Interrupted => EXIT_INTERRUPTED,
            }
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            EXIT_CANNOT_RUN
        }
    }
}

/// What a step that ran says it did: a plugin reports `change` (created, updated,
/// unchanged) among its outputs; a reused step is unchanged by definition.
fn change_of(outcome: &crate::exec::schedule::Outcome) -> Option<&str> {
    match outcome.status {
        StepStatus::Reused => Some("unchanged"),
        StepStatus::Succeeded => outcome
            .outputs
            .as_ref()
            .and_then(|o| o.get("change"))
            .and_then(|c| c.as_str())
            .filter(|c| matches!(*c, "created" | "updated" | "unchanged")),
        _ => None,
    }
}

/// The end-of-run summary on stdout: counts per status (steps that report a change
/// counted by it), a line per step, then every output.
fn print_summary(result: &RunResult) {
    let mut counts: Vec<(String, usize)> = Vec::new();
    let mut bump = |word: &str| match counts.iter_mut().find(|(w, _)| w == word) {
        Some((_, n)) => *n += 1,
        None => counts.push((word.to_string(), 1)),
    };
    for outcome in result.steps.values() {
        let word = match (outcome.status, change_of(outcome)) {
            (_, Some(change)) => change,
            (StepStatus::Succeeded, None) => "succeeded",
            (StepStatus::Destroyed, _) => "destroyed",
            (StepStatus::Failed, _) => "failed",
            (StepStatus::Skipped, _) => "skipped",
            (StepStatus::Reused, None) => "unchanged",
        };
        bump(word);
    }
    const ORDER: &[&str] = &[
        "succeeded",
        "created",
        "updated",
        "unchanged",
        "destroyed",
        "failed",
        "skipped",
    ];
    counts.sort_by_key(|(w, _)| ORDER.iter().position(|o| o == w));
    let parts: Vec<String> = counts.iter().map(|(w, n)| format!("{n} {w}")).collect();
    let verdict = if result.status == RunStatus::Succeeded {
        "succeeded"
    } else {
        "FAILED"
    };
    println!(
        "run {} {verdict}: {} ({} ms)",
        result.run,
        parts.join(", "),
        result.duration_ms
    );
    for (step, outcome) in &result.steps {
        if let Some(f) = outcome
            .failure
            .as_ref()
            .filter(|_| outcome.status == StepStatus::Failed)
        {
            println!("  step `{step}` failed: {}: {}", f.kind, f.message);
        } else if let Some(change) = change_of(outcome) {
            println!("  step `{step}`: {change}");
        }
    }
    for (step, outputs) in &result.outputs {
        if let Some(map) = outputs.as_object() {
            for (k, v) in map.iter().filter(|(k, _)| k.as_str() != "change") {
                // Cut as log fields are: the whole value is in `--output json` and
                // `runner logs`.
                let shown = crate::state::audit::clip(&v.to_string(), 200);
                println!("  {step}.{k} = {shown}");
            }
        }
    }
}
