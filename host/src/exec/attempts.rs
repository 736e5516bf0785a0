//! One step, start to finish: attempts with retry and backoff for retryable errors,
//! every attempt journaled, and the step's state carried from attempt to attempt.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use runner_workflow::Retry;
use serde_json::Value;

use super::recorder::Recorder;
use super::schedule::Outcome;
use crate::bindings::{Invocation, Recorded};
use crate::capabilities::{Reach, StepHost};
use crate::engine::outcome::{self, Call, Returned};
use crate::engine::{LoadedPlugin, StepLimits, WasmEngine};
use crate::events::{Event, Failure, StepStatus};

/// What to call on the plugin.
#[derive(Clone)]
pub enum Action {
    Run,
    /// Destroy, with the outputs the step returned when it ran.
    Destroy {
        outputs: Value,
    },
}

/// Everything needed to carry out one step.
pub struct StepJob {
    pub engine: Arc<WasmEngine>,
    pub plugin: Arc<LoadedPlugin>,
    pub plugin_label: String,
    pub recorder: Arc<Recorder>,
    pub step: String,
    pub params: String,
    pub input_hash: Option<String>,
    pub limits: StepLimits,
    pub retry: Retry,
    pub state: BTreeMap<String, String>,
    pub action: Action,
    /// The step's grants and the run's cloud.
    pub reach: Reach,
}

impl StepJob {
    pub async fn perform(self) -> Outcome {
        let started = Instant::now();
        let mut state = self.state.clone();
        let mut attempt = 1;
        let result = loop {
            if let Err(e) = self.recorder.emit(Event::StepStarted {
                step: self.step.clone(),
                attempt,
                plugin: self.plugin_label.clone(),
                sha256: self.plugin.sha256.clone(),
            }) {
                break Err(Failure::new("internal", e.to_string()));
            }
            let host = StepHost::new(
                self.step.clone(),
                self.recorder.clone(),
                state.clone(),
                self.reach.clone(),
            );
            let inv = Invocation {
                step: self.step.clone(),
                run: self.recorder.run.clone(),
                attempt,
                params: self.params.clone(),
            };
            let (result, mut host) = match &self.action {
                Action::Run => {
                    outcome::call(
                        &self.engine,
                        &self.plugin,
                        host,
                        &self.limits,
                        Call::Run(&inv),
                    )
                    .await
                }
                Action::Destroy { outputs } => {
                    let recorded = Recorded {
                        outputs: outputs.to_string(),
                        state: state.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                    };
                    outcome::call(
                        &self.engine,
                        &self.plugin,
                        host,
                        &self.limits,
                        Call::Destroy(&inv, &recorded),
                    )
                    .await
                }
            };
            state = std::mem::take(&mut host.state);
            match result {
                Err(f) if f.is_retryable() && attempt < self.retry.attempts => {
                    let delay = self.retry.delay(attempt);
                    let retry = Event::StepRetry {
                        step: self.step.clone(),
                        attempt,
                        delay_ms: delay.as_millis() as u64,
                        error: f,
                    };
                    if let Err(e) = self.recorder.emit(retry) {
                        break Err(Failure::new("internal", e.to_string()));
                    }
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                other => break other,
            }
        };
        let (status, outputs, failure) = match result {
            Ok(Returned::Outputs(map)) => (StepStatus::Succeeded, Some(map), None),
            Ok(_) if matches!(self.action, Action::Destroy { .. }) => {
                (StepStatus::Destroyed, None, None)
            }
            Ok(_) => (StepStatus::Succeeded, Some(Default::default()), None),
            Err(f) => (StepStatus::Failed, None, Some(f)),
        };
        let finished = Event::StepFinished {
            step: self.step.clone(),
            status,
            attempt,
            duration_ms: started.elapsed().as_millis() as u64,
            outputs: outputs.clone().map(Value::Object),
            error: failure.clone(),
            reason: None,
            input_hash: if status == StepStatus::Succeeded {
                self.input_hash.clone()
            } else {
                None
            },
        };
        if let Err(e) = self.recorder.emit(finished) {
            return Outcome {
                status: StepStatus::Failed,
                outputs: None,
                failure: Some(Failure::new("internal", e.to_string())),
            };
        }
        Outcome {
            status,
            outputs,
            failure,
        }
    }
}
