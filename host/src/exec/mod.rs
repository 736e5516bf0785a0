//! Executing workflows: `exec` runs the DAG (resuming an interrupted or failed run),
//! `destroy` undoes a workflow's steps in reverse dependency order.

pub mod attempts;
pub mod recorder;
pub mod schedule;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use runner_workflow::{Context, Workflow};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use self::attempts::{Action, StepJob};
use self::recorder::{EventSink, Recorder};
use self::schedule::{Decision, Outcome, Plan};
use crate::engine::{LoadedPlugin, StepLimits, WasmEngine};
use crate::events::{Event, Failure, RunKind, RunStatus, StepStatus};
use crate::state::{AuditLog, Journal, RunRecord, StateDir, StepRecord};

#[derive(Debug, Clone)]
pub struct ExecOptions {
    /// Run every step even if an interrupted run could be resumed.
    pub fresh: bool,
    /// Steps running at once.
    pub jobs: usize,
}

impl Default for ExecOptions {
    fn default() -> Self {
        Self {
            fresh: false,
            jobs: 16,
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub run: String,
    pub status: RunStatus,
    pub steps: BTreeMap<String, Outcome>,
    pub outputs: BTreeMap<String, Value>,
    pub duration_ms: u64,
}

/// A workflow's plugins, loaded once per run.
pub struct Loaded {
    pub plugins: HashMap<String, (String, Arc<LoadedPlugin>)>,
}

impl Loaded {
    pub fn new(engine: &WasmEngine, wf: &Workflow) -> anyhow::Result<Self> {
        let mut plugins = HashMap::new();
        for step in &wf.steps {
            let (resolved, loaded) = crate::plugins::load(engine, &step.plugin).map_err(|p| {
                anyhow::anyhow!("step `{}`: plugin cannot be loaded: {p:?}", step.id)
            })?;
            plugins.insert(step.id.clone(), (resolved.label, loaded));
        }
        Ok(Self { plugins })
    }
}

/// A run being recorded: its journal, audit log and identity.
struct Run {
    recorder: Arc<Recorder>,
    started: Instant,
}

impl Run {
    fn open(state: &StateDir, sink: Arc<dyn EventSink>) -> anyhow::Result<Self> {
        let (id, dir) = state
            .create_run()
            .with_context(|| format!("creating a run in {}", state.root().display()))?;
        let journal =
            Journal::create(&dir.join("journal.ndjson")).context("creating the run journal")?;
        let audit =
            AuditLog::create(&dir.join("audit.ndjson")).context("creating the audit log")?;
        Ok(Self {
            recorder: Arc::new(Recorder::new(id, journal, audit, sink)),
            started: Instant::now(),
        })
    }

    fn id(&self) -> String {
        self.recorder.run.clone()
    }

    /// Copies a step's record from an earlier run into this run's journal.
    fn carry(&self, step: &str, from: &RunRecord, record: &StepRecord) -> anyhow::Result<()> {
        self.recorder.emit(Event::StepCarried {
            step: step.into(),
            from_run: from.id.clone(),
            status: record.status,
            outputs: record.outputs.clone(),
            state: record.state.clone(),
            input_hash: record.input_hash.clone(),
        })?;
        Ok(())
    }

    fn finish(self, steps: BTreeMap<String, Outcome>) -> anyhow::Result<RunResult> {
        let status = if steps.values().any(|o| o.status == StepStatus::Failed) {
            RunStatus::Failed
        } else {
            RunStatus::Succeeded
        };
        let outputs: BTreeMap<String, Value> = steps
            .iter()
            .filter_map(|(id, o)| o.outputs.clone().map(|m| (id.clone(), Value::Object(m))))
            .collect();
        let duration_ms = self.started.elapsed().as_millis() as u64;
        let run = self.id();
        self.recorder.emit(Event::RunFinished {
            run: run.clone(),
            status,
            duration_ms,
            outputs: outputs.clone(),
        })?;
        Ok(RunResult {
            run,
            status,
            steps,
            outputs,
            duration_ms,
        })
    }
}

fn skipped(reason: String) -> Decision {
    Decision::Settled(Outcome {
        status: StepStatus::Skipped,
        outputs: None,
        failure: Some(Failure::new("skipped", reason)),
    })
}

fn failed(failure: Failure) -> Decision {
    Decision::Settled(Outcome {
        status: StepStatus::Failed,
        outputs: None,
        failure: Some(failure),
    })
}

/// The hash resume compares: the plugin's content and the step's interpolated input.
fn input_hash(plugin_sha: &str, params: &str) -> String {
    let mut h = Sha256::new();
    h.update(plugin_sha.as_bytes());
    h.update(b"\n");
    h.update(params.as_bytes());
    hex::encode(h.finalize())
}

/// Runs a workflow. The caller holds the state lock.
pub async fn exec(
    engine: Arc<WasmEngine>,
    wf: &Workflow,
    loaded: &Loaded,
    state: &StateDir,
    sink: Arc<dyn EventSink>,
    options: &ExecOptions,
) -> anyhow::Result<RunResult> {
    let previous = state.latest_of(&wf.name)?;
    let resumable = previous.as_ref().filter(|p| {
        p.kind == RunKind::Exec && p.status != Some(RunStatus::Succeeded) && !options.fresh
    });
    let run = Run::open(state, sink)?;
    run.recorder.emit(Event::RunStarted {
        run: run.id(),
        kind: RunKind::Exec,
        workflow: wf.name.clone(),
        file: wf.file.display().to_string(),
        steps: wf.steps.iter().map(|s| s.id.clone()).collect(),
        resumed_from: resumable.map(|p| p.id.clone()),
    })?;
    // What earlier runs left: state always carries over (a plugin must be able to find
    // what it created); outputs are reused only when resuming.
    let mut carried: HashMap<String, StepRecord> = HashMap::new();
    if let Some(prev) = &previous {
        for step in &wf.steps {
            if let Some(rec) = prev
                .steps
                .get(&step.id)
                .filter(|r| !r.state.is_empty() || r.outputs.is_some())
            {
                let rec = if resumable.is_some() {
                    rec.clone()
                } else {
                    StepRecord {
                        state: rec.state.clone(),
                        ..Default::default()
                    }
                };
                if rec.state.is_empty() && rec.outputs.is_none() {
                    continue;
                }
                run.carry(&step.id, prev, &rec)?;
                carried.insert(step.id.clone(), rec);
            }
        }
    }

    let plan = Plan {
        order: wf.steps.iter().map(|s| s.id.clone()).collect(),
        waits_for: wf
            .steps
            .iter()
            .map(|s| (s.id.clone(), s.needs.iter().cloned().collect()))
            .collect(),
    };
    let recorder = run.recorder.clone();
    let settled = schedule::run(&plan, options.jobs, |id, settled| {
        let step = wf.step(id).expect("planned steps exist");
        let decision = decide_exec(
            &engine,
            wf,
            loaded,
            &recorder,
            step,
            settled,
            carried.get(id),
        );
        if let Decision::Settled(outcome) = &decision {
            let reason = outcome
                .failure
                .as_ref()
                .filter(|_| outcome.status == StepStatus::Skipped)
                .map(|f| f.message.clone());
            let error = outcome
                .failure
                .clone()
                .filter(|_| outcome.status == StepStatus::Failed);
            let _ = recorder.emit(Event::StepFinished {
                step: id.into(),
                status: outcome.status,
                attempt: 0,
                duration_ms: 0,
                outputs: outcome.outputs.clone().map(Value::Object),
                error,
                reason,
                input_hash: carried
                    .get(id)
                    .and_then(|c| c.input_hash.clone())
                    .filter(|_| outcome.status == StepStatus::Reused),
            });
        }
        decision
    })
    .await;
    run.finish(settled)
}

fn decide_exec(
    engine: &Arc<WasmEngine>,
    wf: &Workflow,
    loaded: &Loaded,
    recorder: &Arc<Recorder>,
    step: &runner_workflow::Step,
    settled: &BTreeMap<String, Outcome>,
    carried: Option<&StepRecord>,
) -> Decision {
    if let Some((dep, o)) = step
        .needs
        .iter()
        .filter_map(|d| settled.get(d).map(|o| (d, o)))
        .find(|(_, o)| !o.ok())
    {
        let what = if o.status == StepStatus::Failed {
            "failed"
        } else {
            "was skipped"
        };
        return skipped(format!("dependency `{dep}` {what}"));
    }
    let outputs: BTreeMap<String, Map<String, Value>> = settled
        .iter()
        .filter_map(|(k, o)| o.outputs.clone().map(|m| (k.clone(), m)))
        .collect();
    let ctx = Context {
        vars: &wf.vars,
        outputs: &outputs,
    };
    if let Some(cond) = &step.condition {
        match cond.eval(&ctx) {
            Ok(true) => {}
            Ok(false) => return skipped(format!("condition `{}` is false", cond.source())),
            Err(e) => return failed(Failure::new("input", e.to_string())),
        }
    }
    let params = match wf.render_with(step, &ctx) {
        Ok(v) => v.to_string(),
        Err(e) => return failed(Failure::new("input", e.to_string())),
    };
    let (label, plugin) = loaded.plugins[&step.id].clone();
    let hash = input_hash(&plugin.sha256, &params);
    if let Some(prev) = carried
        && prev.input_hash.as_deref() == Some(hash.as_str())
        && matches!(
            prev.status,
            Some(StepStatus::Succeeded | StepStatus::Reused)
        )
    {
        let outputs = prev
            .outputs
            .clone()
            .and_then(|v| v.as_object().cloned())
            .unwrap_or_default();
        return Decision::Settled(Outcome {
            status: StepStatus::Reused,
            outputs: Some(outputs),
            failure: None,
        });
    }
    let job = StepJob {
        engine: engine.clone(),
        plugin,
        plugin_label: label,
        recorder: recorder.clone(),
        step: step.id.clone(),
        params,
        input_hash: Some(hash),
        limits: StepLimits::new(&step.limits, step.timeout),
        retry: step.retry.clone(),
        state: carried.map(|c| c.state.clone()).unwrap_or_default(),
        action: Action::Run,
    };
    Decision::Run(Box::pin(job.perform()))
}

/// Undoes what the workflow's last runs made, dependents first. The caller holds the
/// state lock. Steps that never ran, or were already destroyed, are left alone.
pub async fn destroy(
    engine: Arc<WasmEngine>,
    wf: &Workflow,
    loaded: &Loaded,
    state: &StateDir,
    sink: Arc<dyn EventSink>,
    options: &ExecOptions,
) -> anyhow::Result<RunResult> {
    let previous = state.latest_of(&wf.name)?;
    let run = Run::open(state, sink)?;
    run.recorder.emit(Event::RunStarted {
        run: run.id(),
        kind: RunKind::Destroy,
        workflow: wf.name.clone(),
        file: wf.file.display().to_string(),
        steps: wf.steps.iter().map(|s| s.id.clone()).collect(),
        resumed_from: previous.as_ref().map(|p| p.id.clone()),
    })?;
    let mut records: HashMap<String, StepRecord> = HashMap::new();
    if let Some(prev) = &previous {
        for step in &wf.steps {
            if let Some(rec) = prev
                .steps
                .get(&step.id)
                .filter(|r| !r.state.is_empty() || r.outputs.is_some())
            {
                run.carry(&step.id, prev, rec)?;
                records.insert(step.id.clone(), rec.clone());
            }
        }
    }
    // Reverse edges: a step is destroyed after every step that needs it.
    let mut waits_for: HashMap<String, Vec<String>> = HashMap::new();
    for step in &wf.steps {
        for dep in &step.needs {
            waits_for
                .entry(dep.clone())
                .or_default()
                .push(step.id.clone());
        }
    }
    let plan = Plan {
        order: wf.steps.iter().rev().map(|s| s.id.clone()).collect(),
        waits_for,
    };
    let all_outputs: BTreeMap<String, Map<String, Value>> = records
        .iter()
        .filter_map(|(k, r)| {
            r.outputs
                .as_ref()
                .and_then(|v| v.as_object().cloned())
                .map(|m| (k.clone(), m))
        })
        .collect();
    let recorder = run.recorder.clone();
    let settled = schedule::run(&plan, options.jobs, |id, settled| {
        let step = wf.step(id).expect("planned steps exist");
        let dependents = plan.waits_for.get(id).cloned().unwrap_or_default();
        let decision = if let Some(d) = dependents.iter().find(|d| {
            settled
                .get(*d)
                .is_some_and(|o| o.status == StepStatus::Failed)
        }) {
            skipped(format!("dependent `{d}` was not destroyed"))
        } else if let Some(rec) = records.get(id) {
            let ctx = Context {
                vars: &wf.vars,
                outputs: &all_outputs,
            };
            match wf.render_with(step, &ctx) {
                Err(e) => failed(Failure::new("input", e.to_string())),
                Ok(params) => {
                    let (label, plugin) = loaded.plugins[id].clone();
                    let job = StepJob {
                        engine: engine.clone(),
                        plugin,
                        plugin_label: label,
                        recorder: recorder.clone(),
                        step: id.into(),
                        params: params.to_string(),
                        input_hash: None,
                        limits: StepLimits::new(&step.limits, step.timeout),
                        retry: step.retry.clone(),
                        state: rec.state.clone(),
                        action: Action::Destroy {
                            outputs: rec.outputs.clone().unwrap_or(Value::Object(Map::new())),
                        },
                    };
                    Decision::Run(Box::pin(job.perform()))
                }
            }
        } else {
            skipped("nothing recorded to destroy".into())
        };
        if let Decision::Settled(outcome) = &decision {
            let _ = recorder.emit(Event::StepFinished {
                step: id.into(),
                status: outcome.status,
                attempt: 0,
                duration_ms: 0,
                outputs: None,
                error: outcome
                    .failure
                    .clone()
                    .filter(|_| outcome.status == StepStatus::Failed),
                reason: outcome
                    .failure
                    .as_ref()
                    .filter(|_| outcome.status == StepStatus::Skipped)
                    .map(|f| f.message.clone()),
                input_hash: None,
            });
        }
        decision
    })
    .await;
    run.finish(settled)
}
