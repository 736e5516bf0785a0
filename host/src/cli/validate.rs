//! `runner validate`: every problem at once, with positions, or a summary of the plan.

use std::path::PathBuf;

use runner_workflow::{PluginRef, Workflow};

use super::{EXIT_CANNOT_RUN, EXIT_INVALID, EXIT_OK, OutputFormat, WorkflowArgs};
use crate::engine::{EngineOptions, WasmEngine};
use crate::plugins::Catalog;

/// Loads and fully checks a workflow (plugins included). On problems, prints them and
/// returns the exit code to use.
pub fn load_checked(engine: &WasmEngine, args: &WorkflowArgs) -> Result<Workflow, u8> {
    load(args, Some(engine))
}

/// Loads a workflow and, with `plugins`, checks its steps' plugins too.
fn load(args: &WorkflowArgs, plugins: Option<&WasmEngine>) -> Result<Workflow, u8> {
    let report = match Workflow::load(&args.file, &args.vars) {
        Ok(wf) => match plugins.map(|engine| wf.check_plugins(&Catalog { engine })) {
            None | Some(Ok(())) => return Ok(wf),
            Some(Err(report)) => report,
        },
        Err(report) => report,
    };
    match args.output {
        OutputFormat::Human => eprintln!("{report}"),
        OutputFormat::Json => println!("{}", report.to_json()),
    }
    Err(EXIT_INVALID)
}

/// The engine and the workflow, or the exit code once the problem is printed. With
/// `steps`, the steps' plugins are loaded and checked as well (what `exec` and
/// `destroy` run); `watch` runs no step and skips that.
pub fn engine_and_workflow(
    cache_dir: Option<PathBuf>,
    args: &WorkflowArgs,
    steps: bool,
) -> Result<(std::sync::Arc<WasmEngine>, Workflow), u8> {
    let engine = std::sync::Arc::new(engine(cache_dir)?);
    let wf = load(args, steps.then_some(&*engine))?;
    Ok((engine, wf))
}

pub fn engine(cache_dir: Option<PathBuf>) -> Result<WasmEngine, u8> {
    let cache_dir = cache_dir.or_else(crate::engine::ComponentCache::default_dir);
    WasmEngine::new(EngineOptions {
        cache_dir,
        pooling: true,
    })
    .map_err(|e| {
        eprintln!("error: {e:#}");
        EXIT_CANNOT_RUN
    })
}

pub async fn validate(cache_dir: Option<PathBuf>, args: WorkflowArgs) -> u8 {
    let engine = match engine(cache_dir) {
        Ok(e) => e,
        Err(code) => return code,
    };
    let wf = match load_checked(&engine, &args) {
        Ok(wf) => wf,
        Err(code) => return code,
    };
    if let Some(policy) = &wf.policy {
        let engine = std::sync::Arc::new(engine);
        let recorder = std::sync::Arc::new(crate::exec::recorder::Recorder::detached());
        if let Err(code) = super::policy_cmd::load_policy(&engine, &policy.plugin, recorder) {
            return code;
        }
    }
    match args.output {
        OutputFormat::Json => {
            let steps: Vec<_> = wf
                .steps
                .iter()
                .map(|s| {
                    serde_json::json!({
                        "id": s.id,
                        "plugin": plugin_name(&s.plugin),
                        "needs": s.needs,
                        "grants": s.grant.summary(),
                    })
                })
                .collect();
            println!(
                "{}",
                serde_json::json!({ "valid": true, "workflow": wf.name, "file": args.file, "steps": steps })
            );
        }
        OutputFormat::Human => {
            println!(
                "{}: workflow `{}` is valid ({} steps)",
                args.file.display(),
                wf.name,
                wf.steps.len()
            );
            if let Some(policy) = &wf.policy {
                println!(
                    "  [policy] {} on accelerator `{}` every {}",
                    plugin_name(&policy.plugin),
                    policy.accelerator,
                    crate::engine::outcome::duration(policy.every)
                );
                for grant in policy.grants.summary() {
                    println!("    grant: {grant}");
                }
            }
            for step in wf.order() {
                let needs = if step.needs.is_empty() {
                    String::new()
                } else {
                    format!(
                        " after {}",
                        step.needs.iter().cloned().collect::<Vec<_>>().join(", ")
                    )
                };
                println!("  {} ({}){needs}", step.id, plugin_name(&step.plugin));
                let grants = step.grant.summary();
                if grants.is_empty() {
                    println!("    grants: none (log and state only)");
                }
                for grant in grants {
                    println!("    grant: {grant}");
                }
            }
        }
    }
    EXIT_OK
}

pub fn plugin_name(plugin: &PluginRef) -> String {
    match plugin {
        PluginRef::Builtin(name) => name.clone(),
        PluginRef::File { path, .. } => path.display().to_string(),
    }
}
