//! `runner policy test`: a policy run offline over recorded observations. Each
//! decision is planned against the guard rails like the live loop's, and, unless the
//! recording is replayed as is, what it would have applied is carried into the
//! observations after it (a hand-written or recorded scenario does not know this
//! policy's moves). Nothing is sent anywhere.

use runner_workflow::DialGuard;
use serde_json::{Value, json};

use super::apply::{self, Plan};
use super::observation::{self, Carried};
use super::runtime::PolicyRuntime;
use crate::bindings::policy::Observation;

/// How to replay.
pub struct Replay {
    /// The policy's `with`, as a JSON object; None uses each observation's recorded params.
    pub params: Option<String>,
    pub guard: DialGuard,
    /// Replay the observations as recorded, without carrying decisions forward.
    pub as_recorded: bool,
    pub json: bool,
}

/// Replays `observations`; returns how many decisions failed.
pub async fn replay(
    runtime: &PolicyRuntime,
    observations: Vec<Observation>,
    how: &Replay,
) -> usize {
    let mut memory: Option<String> = None;
    let mut carried = Carried::default();
    let mut failed = 0;
    for mut obs in observations {
        if !how.as_recorded {
            carried.overlay(&mut obs);
        }
        if let Some(params) = &how.params {
            obs.params = params.clone();
        }
        obs.memory = memory.clone();
        let started = std::time::Instant::now();
        let result = runtime.decide(&obs).await;
        let decide_us = started.elapsed().as_micros();
        let (decision, plan, error) = match result {
            Ok(decision) => {
                memory = decision.memory.clone();
                let mut plan = apply::plan(&decision, &obs, &how.guard);
                apply::carry(&mut plan, &mut carried);
                (Some(decision), plan, None)
            }
            Err(f) => {
                failed += 1;
                (
                    None,
                    Plan::default(),
                    Some(format!("{}: {}", f.kind, f.message)),
                )
            }
        };
        // What the decision leaves: the observation with it applied.
        carried.overlay(&mut obs);
        let dials = observation::dials(&obs);
        if how.json {
            println!(
                "{}",
                json!({
                    "tick": obs.tick,
                    "decision": decision.as_ref().map(observation::decision_json),
                    "applied": plan.changes,
                    "refused": plan.refused,
                    "dials": dials,
                    "error": error,
                    "decide_us": decide_us,
                })
            );
            continue;
        }
        let dials: Vec<String> = dials.iter().map(|(r, d)| format!("{r}={d}")).collect();
        let what = match (&decision, &error) {
            (_, Some(e)) => format!("FAILED: {e}"),
            (Some(d), None) if plan.changes.is_empty() => format!("no change: {}", d.reason),
            (Some(d), None) => format!("changed: {}", d.reason),
            (None, None) => unreachable!("a decision or an error"),
        };
        println!("tick {} {}  {what}", obs.tick, dials.join(" "));
        for r in &plan.refused {
            println!("  refused: {r}");
        }
        for c in plan.changes.iter().filter_map(|c| c.note.as_ref()) {
            println!("  note: {c}");
        }
    }
    failed
}

/// `--with` as the policy's params: a JSON object.
pub fn params(text: &str) -> Result<String, String> {
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => Ok(v.to_string()),
        Ok(_) => Err("`--with` must be a JSON object, e.g. '{\"bound_ms\": 200}'".into()),
        Err(e) => Err(format!("`--with` is not JSON: {e}")),
    }
}
