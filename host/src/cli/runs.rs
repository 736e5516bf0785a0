//! `runner runs`, `runner logs` and `runner plugins`: looking at what is on disk.

use std::path::{Path, PathBuf};

use super::output::{OutputFormat, describe};
use super::{EXIT_CANNOT_RUN, EXIT_INVALID, EXIT_OK};
use crate::events::{RunKind, RunStatus, StepStatus};
use crate::state::StateDir;
use crate::state::journal::Journal;
use crate::state::runs::format_time;

pub fn list(state_dir: &Path, output: OutputFormat) -> u8 {
    let state = StateDir::new(state_dir);
    let mut rows = Vec::new();
    for id in state.run_ids() {
        match state.record(&id) {
            Ok(Some(r)) => rows.push(r),
            Ok(None) => {}
            Err(e) => eprintln!("warning: {e}"),
        }
    }
    match output {
        OutputFormat::Json => {
            for r in &rows {
                let count =
                    |s: StepStatus| r.steps.values().filter(|st| st.status == Some(s)).count();
                let line = serde_json::json!({
                    "run": r.id, "workflow": r.workflow, "file": r.file, "kind": r.kind,
                    "status": r.status, "started_ms": r.started_ms, "finished_ms": r.finished_ms,
                    "resumed_from": r.resumed_from,
                    "steps": { "succeeded": count(StepStatus::Succeeded), "reused": count(StepStatus::Reused),
                               "failed": count(StepStatus::Failed), "skipped": count(StepStatus::Skipped),
                               "destroyed": count(StepStatus::Destroyed) },
                });
                println!("{line}");
            }
        }
        OutputFormat::Human => {
            if rows.is_empty() {
                println!("no runs in {}", state_dir.display());
                return EXIT_OK;
            }
            println!(
                "{:<22} {:<8} {:<12} {:<24} {:>9}  WORKFLOW",
                "RUN", "KIND", "STATUS", "STARTED", "DURATION"
            );
            for r in &rows {
                let kind = match r.kind {
                    RunKind::Exec => "exec",
                    RunKind::Destroy => "destroy",
                };
                let status = match r.status {
                    Some(RunStatus::Succeeded) => "succeeded",
                    Some(RunStatus::Failed) => "failed",
                    Some(RunStatus::Interrupted) => "interrupted",
                    None => "unfinished",
                };
                let took = r
                    .finished_ms
                    .map(|f| format!("{} ms", f.saturating_sub(r.started_ms)))
                    .unwrap_or_else(|| "-".into());
                println!(
                    "{:<22} {kind:<8} {status:<12} {:<24} {took:>9}  {}",
                    r.id,
                    format_time(r.started_ms),
                    r.workflow
                );
            }
        }
    }
    EXIT_OK
}

pub fn logs(state_dir: &Path, run: &str, output: OutputFormat) -> u8 {
    let state = StateDir::new(state_dir);
    let id = match state.find_run(run) {
        Ok(id) => id,
        Err(msg) => {
            eprintln!("error: {msg}");
            return EXIT_INVALID;
        }
    };
    let contents = match Journal::read(&state.journal_path(&id)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_CANNOT_RUN;
        }
    };
    for envelope in &contents.events {
        match output {
            OutputFormat::Json => {
                println!("{}", serde_json::to_string(envelope).unwrap_or_default())
            }
            OutputFormat::Human => {
                if let Some(line) = describe(&envelope.event) {
                    println!("{} {line}", format_time(envelope.ts_ms));
                }
            }
        }
    }
    if contents.torn_tail {
        eprintln!(
            "note: the journal ends in a partial line (the run was killed mid-write); it was ignored"
        );
    }
    EXIT_OK
}

pub fn plugins(cache_dir: Option<PathBuf>, output: OutputFormat) -> u8 {
    let engine = match super::validate::engine(cache_dir) {
        Ok(e) => e,
        Err(code) => return code,
    };
    let steps = crate::plugins::builtins()
        .iter()
        .map(|p| (p, "runner:plugin/step@0.1.0"));
    let policies = crate::policy::builtins::policies()
        .iter()
        .map(|p| (p, "runner:plugin/routing-policy@0.1.0"));
    for ((name, description, bytes), world) in steps.chain(policies) {
        // Loading proves the embedded component really implements its world.
        let loaded = if world.contains("routing-policy") {
            engine.load_policy(bytes).map(|p| p.sha256.clone())
        } else {
            engine.load(bytes).map(|p| p.sha256.clone())
        };
        let sha256 = match loaded {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: built-in `{name}`: {e}");
                return EXIT_CANNOT_RUN;
            }
        };
        match output {
            OutputFormat::Json => println!(
                "{}",
                serde_json::json!({"name": name, "sha256": sha256, "world": world, "bytes": bytes.len(), "description": description})
            ),
            OutputFormat::Human => println!(
                "{name:<15} {world:<35} sha256:{sha256}  {:>7} B  {description}",
                bytes.len()
            ),
        }
    }
    EXIT_OK
}
