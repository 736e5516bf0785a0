//! Runs a set of steps in dependency order, independent ones in parallel.
//!
//! The same loop drives `exec` (edges: a step waits for what it needs) and `destroy`
//! (edges reversed: a step waits for what needs it). The caller decides, once a
//! step's prerequisites have settled, whether to skip it, settle it at once, or run it.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;

use serde_json::{Map, Value};
use tokio::task::JoinSet;

use crate::events::{Failure, StepStatus};

/// How a step settled.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: StepStatus,
    pub outputs: Option<Map<String, Value>>,
    pub failure: Option<Failure>,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        matches!(
            self.status,
            StepStatus::Succeeded | StepStatus::Reused | StepStatus::Destroyed
        )
    }
}

pub type StepFuture = Pin<Box<dyn Future<Output = Outcome> + Send>>;

pub enum Decision {
    Settled(Outcome),
    Run(StepFuture),
}

/// Steps and the steps each waits for.
pub struct Plan {
    /// Every step, in the order ties are broken (file order).
    pub order: Vec<String>,
    pub waits_for: HashMap<String, Vec<String>>,
}

/// Runs the plan with at most `jobs` steps at once. `decide` is called for a step
/// once everything it waits for has settled, with the outcomes so far.
pub async fn run(
    plan: &Plan,
    jobs: usize,
    mut decide: impl FnMut(&str, &BTreeMap<String, Outcome>) -> Decision,
) -> BTreeMap<String, Outcome> {
    let mut settled: BTreeMap<String, Outcome> = BTreeMap::new();
    let mut pending: Vec<&String> = plan.order.iter().collect();
    let mut running: JoinSet<(String, Outcome)> = JoinSet::new();
    let mut in_flight = 0usize;
    loop {
        // Start (or settle) every step whose prerequisites have settled, in order.
        let mut i = 0;
        while i < pending.len() {
            let id = pending[i];
            let ready = plan
                .waits_for
                .get(id)
                .is_none_or(|deps| deps.iter().all(|d| settled.contains_key(d)));
            if !ready || in_flight >= jobs.max(1) {
                i += 1;
                continue;
            }
            pending.remove(i);
            match decide(id, &settled) {
                Decision::Settled(outcome) => {
                    settled.insert(id.clone(), outcome);
                    i = 0; // a settled step may make earlier ones ready
                }
                Decision::Run(fut) => {
                    let id = id.clone();
                    running.spawn(async move { (id, fut.await) });
                    in_flight += 1;
                }
            }
        }
        match running.join_next().await {
            Some(Ok((id, outcome))) => {
                in_flight -= 1;
                settled.insert(id, outcome);
            }
            Some(Err(join_error)) => {
                // A panic inside a step task is a bug in runner, not in the plugin;
                // keep the run going and let the step show up as failed.
                in_flight -= 1;
                tracing::error!(error = %join_error, "a step task panicked");
            }
            None if pending.is_empty() => break,
            None => {
                // Nothing runs and nothing is ready: only possible if a step's
                // prerequisite never settles (a panicked task). Settle the rest.
                for id in pending.drain(..) {
                    settled.insert(
                        id.clone(),
                        Outcome {
                            status: StepStatus::Skipped,
                            outputs: None,
                            failure: Some(Failure::new(
                                "internal",
                                "a prerequisite never finished",
                            )),
                        },
                    );
                }
                break;
            }
        }
    }
    settled
}
