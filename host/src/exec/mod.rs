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
use crate::capabilities::Reach;
use crate::cloud::Cloud;
use crate::engine::{LoadedPlugin, StepLimits, WasmEngine};
use crate::events::{Event, Failure, RunKind, RunStatus, StepStatus};
use crate::state::{AuditLog, Journal, RunRecord, StateDir, StepRecord};

#[derive(Clone)]
pub struct ExecOptions {
    /// Run every step even if an interrupted run could be resumed.
    pub fresh: bool,
    /// Steps running at once.
    pub jobs: usize,
    /// The run's clouds; None for a workflow that uses none.
    pub cloud: Option<Arc<Cloud>>,
}

impl Default for ExecOptions {
    fn default() -> Self {
        Self {
            fresh: false,
            jobs: 16,
            cloud: None,
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
    cloud: Option<Arc<Cloud>>,
}

impl Run {
    /// Creates the run's directory and journals its start.
    fn start(
        state: &StateDir,
        sink: Arc<dyn EventSink>,
        kind: RunKind,
        wf: &Workflow,
        resumed_from: Option<String>,
        cloud: Option<Arc<Cloud>>,
    ) -> anyhow::Result<Self> {
        let (id, dir) = state
            .create_run()
            .with_context(|| format!("creating a run in {}", state.root().display()))?;
        let journal =
            Journal::create(&dir.join("journal.ndjson")).context("creating the run journal")?;
        let audit =
            AuditLog::create(&dir.join("audit.ndjson")).context("creating the audit log")?;
        let run = Self {
            recorder: Arc::new(Recorder::new(id.clone(), journal, audit, sink)),
            started: Instant::now(),
            cloud,
        };
        run.recorder.emit(Event::RunStarted {
            run: id,
            kind,
            workflow: wf.name.clone(),
            file: wf.file.display().to_string(),
            steps: wf.steps.iter().map(|s| s.id.clone()).collect(),
            resumed_from,
        })?;
        Ok(run)
    }

    fn id(&self) -> String {
        self.recorder.run.clone()
    }

    /// Copies what an earlier run recorded for each step (as `keep` shapes it) into this
    /// run's journal, so every journal is complete on its own, and returns it.
    fn carry(
        &self,
        wf: &Workflow,
        previous: Option<&RunRecord>,
        keep: impl Fn(&StepRecord) -> StepRecord,
    ) -> anyhow::Result<HashMap<String, StepRecord>> {
        let mut carried = HashMap::new();
        let Some(prev) = previous else {
            return Ok(carried);
        };
        for step in &wf.steps {
            let Some(rec) = prev.steps.get(&step.id).map(&keep) else {
                continue;
            };
            if rec.state.is_empty() && rec.outputs.is_none() {
                continue;
            }
            self.recorder.emit(Event::StepCarried {
                step: step.id.clone(),
                from_run: prev.id.clone(),
                status: rec.status,
                outputs: rec.outputs.clone(),
                state: rec.state.clone(),
                input_hash: rec.input_hash.clone(),
            })?;
            carried.insert(step.id.clone(), rec);
        }
        Ok(carried)
    }

    /// Journals a step that settled without running (skipped, reused, failed input).
    fn settled(&self, step: &str, outcome: &Outcome, input_hash: Option<String>) {
        let failure = |status| outcome.failure.clone().filter(|_| outcome.status == status);
        let _ = self.recorder.emit(Event::StepFinished {
            step: step.into(),
            status: outcome.status,
            attempt: 0,
            duration_ms: 0,
            outputs: outcome.outputs.clone().map(Value::Object),
            error: failure(StepStatus::Failed),
            reason: failure(StepStatus::Skipped).map(|f| f.message),
            input_hash,
        });
    }

    /// The job that carries out `action` for one step.
    #[allow(clippy::too_many_arguments)]
    fn job(
        &self,
        engine: &Arc<WasmEngine>,
        loaded: &Loaded,
        step: &runner_workflow::Step,
        params: String,
        input_hash: Option<String>,
        state: BTreeMap<String, String>,
        action: Action,
    ) -> Decision {
        let (label, plugin) = loaded.plugins[&step.id].clone();
        let job = StepJob {
            engine: engine.clone(),
            plugin,
            plugin_label: label,
            recorder: self.recorder.clone(),
            step: step.id.clone(),
            params,
            input_hash,
            limits: StepLimits::new(&step.limits, step.timeout),
            retry: step.retry.clone(),
            state,
            action,
            reach: Reach {
                grants: Arc::new(step.grant.clone()),
                cloud: self.cloud.clone(),
            },
        };
        Decision::Run(Box::pin(job.perform()))
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

/// Outputs as the interpolation context wants them.
fn output_maps<'a>(
    outputs: impl Iterator<Item = (&'a String, Option<&'a Value>)>,
) -> BTreeMap<String, Map<String, Value>> {
    outputs
        .filter_map(|(k, v)| {
            v.and_then(|v| v.as_object().cloned())
                .map(|m| (k.clone(), m))
        })
        .collect()
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
    let previous = state.latest_with_history(&wf.name)?;
    let resumable = previous.as_ref().filter(|p| {
        p.kind == RunKind::Exec && p.status != Some(RunStatus::Succeeded) && !options.fresh
    });
    let run = Run::start(
        state,
        sink,
        RunKind::Exec,
        wf,
        resumable.map(|p| p.id.clone()),
        options.cloud.clone(),
    )?;
    // State always carries over (a plugin must be able to find what it created);
    // outputs only when resuming.
    let carried = run.carry(wf, previous.as_ref(), |rec| {
        if resumable.is_some() {
            rec.clone()
        } else {
            StepRecord {
                state: rec.state.clone(),
                ..Default::default()
            }
        }
    })?;
    let plan = Plan {
        order: wf.steps.iter().map(|s| s.id.clone()).collect(),
        waits_for: wf
            .steps
            .iter()
            .map(|s| (s.id.clone(), s.needs.iter().cloned().collect()))
            .collect(),
    };
    let settled = schedule::run(&plan, options.jobs, |id, settled| {
        let step = wf.step(id).expect("planned steps exist");
        let decision = decide_exec(&run, &engine, wf, loaded, step, settled, carried.get(id));
        if let Decision::Settled(outcome) = &decision {
            let reused = outcome.status == StepStatus::Reused;
            let hash = carried
                .get(id)
                .and_then(|c| c.input_hash.clone())
                .filter(|_| reused);
            run.settled(id, outcome, hash);
        }
        decision
    })
    .await;
    run.finish(settled)
}

fn decide_exec(
    run: &Run,
    engine: &Arc<WasmEngine>,
    wf: &Workflow,
    loaded: &Loaded,
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
    let hash = input_hash(&loaded.plugins[&step.id].1.sha256, &params);
    if let Some(prev) = carried
        && prev.input_hash.as_deref() == Some(hash.as_str())
        && matches!(
            prev.status,
            Some(StepStatus::Succeeded | StepStatus::Reused)
        )
    {
        let outputs = prev.outputs.as_ref().and_then(|v| v.as_object().cloned());
        return Decision::Settled(Outcome {
            status: StepStatus::Reused,
            outputs: Some(outputs.unwrap_or_default()),
            failure: None,
        });
    }
    let state = carried.map(|c| c.state.clone()).unwrap_or_default();
    run.job(engine, loaded, step, params, Some(hash), state, Action::Run)
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
    let previous = state.latest_with_history(&wf.name)?;
    let run = Run::start(
        state,
        sink,
        RunKind::Destroy,
        wf,
        previous.as_ref().map(|p| p.id.clone()),
        options.cloud.clone(),
    )?;
    let records = run.carry(wf, previous.as_ref(), StepRecord::clone)?;
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
    let all_outputs = output_maps(records.iter().map(|(k, r)| (k, r.outputs.as_ref())));
    let settled = schedule::run(&plan, options.jobs, |id, settled| {
        let step = wf.step(id).expect("planned steps exist");
        let dependents = plan.waits_for.get(id).cloned().unwrap_or_default();
        let failed_dependent = dependents.iter().find(|d| {
            settled
                .get(*d)
                .is_some_and(|o| o.status == StepStatus::Failed)
        });
        let decision = if let Some(d) = failed_dependent {
            skipped(format!("dependent `{d}` was not destroyed"))
        } else if let Some(rec) = records.get(id) {
            let ctx = Context {
                vars: &wf.vars,
                outputs: &all_outputs,
            };
            match wf.render_with(step, &ctx) {
                Err(e) => failed(Failure::new("input", e.to_string())),
                Ok(params) => {
                    let outputs = rec.outputs.clone().unwrap_or(Value::Object(Map::new()));
                    let action = Action::Destroy { outputs };
                    run.job(
                        &engine,
                        loaded,
                        step,
                        params.to_string(),
                        None,
                        rec.state.clone(),
                        action,
                    )
                }
            }
        } else {
            skipped("nothing recorded to destroy".into())
        };
        if let Decision::Settled(outcome) = &decision {
            run.settled(id, outcome, None);
        }
        decision
    })
    .await;
    run.finish(settled)
}
