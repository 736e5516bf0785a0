//! Running a policy's `decide`: a fresh instance per decision (a policy is a pure
//! function; what it keeps between ticks travels in `memory`, so a replay offline sees
//! exactly what the live loop saw), with a memory cap, a fuel budget and a deadline. A
//! policy that loops, balloons or traps fails that one decision, never the loop.

use std::sync::Arc;
use std::time::Duration;

use crate::bindings::policy::{Decision, Observation};
use crate::capabilities::{Reach, StepHost};
use crate::engine::outcome::{HOST_CALL_GRACE, explain_trap, plugin_failure, timed_out};
use crate::engine::{LoadedPolicy, StepLimits, WasmEngine};
use crate::events::Failure;
use crate::exec::recorder::Recorder;

/// What one decision may use. The deadline is far below any sane loop interval; the
/// fuel budget is about a second of guest work, far above what a real policy needs
/// (the `latency` built-in uses well under 1% of it with 10 endpoint groups).
pub const POLICY_LIMITS: StepLimits = StepLimits {
    memory: 32 << 20,
    fuel: Some(2_000_000_000),
    output: MAX_MEMORY as u64,
    timeout: Duration::from_secs(2),
};

/// Largest `memory` a decision may hand to the next tick.
pub const MAX_MEMORY: usize = 64 << 10;
/// Longest `reason` kept; longer ones are cut.
pub const MAX_REASON: usize = 1 << 10;
/// Most group changes one decision may ask for.
pub const MAX_CHANGES: usize = 256;

/// A loaded policy, ready to decide.
pub struct PolicyRuntime {
    engine: Arc<WasmEngine>,
    policy: Arc<LoadedPolicy>,
    recorder: Arc<Recorder>,
    /// What the policy is called in messages: a built-in's name or its path.
    pub label: String,
}

impl PolicyRuntime {
    pub fn new(
        engine: Arc<WasmEngine>,
        policy: Arc<LoadedPolicy>,
        recorder: Arc<Recorder>,
        label: String,
    ) -> Self {
        Self {
            engine,
            policy,
            recorder,
            label,
        }
    }

    /// Calls `decide` once and checks what came back (sizes, counts, memory as JSON).
    pub async fn decide(&self, observation: &Observation) -> Result<Decision, Failure> {
        let limits = &POLICY_LIMITS;
        let host = StepHost::new(
            "policy".into(),
            self.recorder.clone(),
            Default::default(),
            Reach::default(),
        );
        let mut store = self.engine.store(host, limits);
        let fut = async {
            let policy = self.policy.pre.instantiate_async(&mut store).await?;
            policy.call_decide(&mut store, observation).await
        };
        let outcome = tokio::time::timeout(limits.timeout + HOST_CALL_GRACE, fut).await;
        match outcome {
            Err(_elapsed) => Err(timed_out(limits)),
            Ok(Err(trap)) => Err(explain_trap(&trap, store.data(), limits)),
            Ok(Ok(Err(e))) => Err(plugin_failure(e)),
            Ok(Ok(Ok(decision))) => checked(decision),
        }
    }
}

/// A decision within the contract's bounds: a reason cut to `MAX_REASON`, at most
/// `MAX_CHANGES` changes, and `memory` that is JSON of at most `MAX_MEMORY` bytes.
fn checked(mut decision: Decision) -> Result<Decision, Failure> {
    if decision.changes.len() > MAX_CHANGES {
        return Err(Failure::new(
            "limit",
            format!(
                "the decision asks for {} endpoint-group changes; at most {MAX_CHANGES} are accepted",
                decision.changes.len()
            ),
        ));
    }
    if let Some(memory) = &decision.memory {
        if memory.len() > MAX_MEMORY {
            return Err(Failure::new(
                "limit",
                format!(
                    "the decision's memory is {} bytes; at most {MAX_MEMORY} are kept",
                    memory.len()
                ),
            ));
        }
        if let Err(e) = serde_json::from_str::<serde_json::Value>(memory) {
            return Err(Failure::new(
                "invalid",
                format!("the decision's memory is not JSON: {e}"),
            ));
        }
    }
    if decision.reason.len() > MAX_REASON {
        decision.reason = crate::state::audit::clip(&decision.reason, MAX_REASON);
    }
    Ok(decision)
}
