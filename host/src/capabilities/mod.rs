//! Host capabilities: one module per WIT interface. Every call is bounded (sizes,
//! counts), traced, and written to the run's audit log.
//!
//! `StepHost` is the per-step context the interfaces share.

pub mod elbv2;
pub mod global_accelerator;
pub mod identity;
pub mod kubernetes;
pub mod log;
pub mod probe;
pub mod route53;
pub mod state;
#[cfg(test)]
mod wire_tests;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use runner_workflow::{Denied, Grants};

use crate::bindings::PluginError;
use crate::cloud::Cloud;
use crate::engine::outcome::plugin_failure;
use crate::events::now_ms;
use crate::exec::recorder::Recorder;
use crate::state::audit::{AuditRecord, clip};

/// What a step may reach outside its sandbox: its grants and the run's clouds.
#[derive(Clone, Default)]
pub struct Reach {
    pub grants: Arc<Grants>,
    /// None when the workflow uses no cloud (no grants, no clusters).
    pub cloud: Option<Arc<Cloud>>,
}

/// The host side of one running step.
pub struct StepHost {
    pub step: String,
    pub recorder: Arc<Recorder>,
    /// The step's durable state, as journaled.
    pub state: BTreeMap<String, String>,
    pub reach: Reach,
    log_calls: u32,
    /// Bytes of state writes journaled by this attempt (bounded by `state::MAX_JOURNALED`).
    state_journaled: usize,
    /// The first journal failure: reported as the step's failure.
    pub fatal: Option<String>,
}

impl StepHost {
    pub fn new(
        step: String,
        recorder: Arc<Recorder>,
        state: BTreeMap<String, String>,
        reach: Reach,
    ) -> Self {
        Self {
            step,
            recorder,
            state,
            reach,
            log_calls: 0,
            state_journaled: 0,
            fatal: None,
        }
    }

    /// Records one host call (or, for the policy loop, one decision) in the audit log.
    pub(crate) fn audit(
        &self,
        interface: &str,
        function: &str,
        args: String,
        outcome: String,
        started: Instant,
    ) {
        self.recorder.audit(&AuditRecord {
            ts_ms: now_ms(),
            run: &self.recorder.run,
            step: &self.step,
            interface,
            function,
            args: clip(&args, 256),
            outcome,
            duration_us: started.elapsed().as_micros() as u64,
        });
    }

    /// Runs one cloud call and audits it (arguments, outcome, duration). `call` does
    /// its grant checks before anything that leaves the host, so a denied call is
    /// audited as `denied: ...` and has sent nothing.
    async fn audited<T>(
        &self,
        interface: &str,
        function: &str,
        args: String,
        call: impl Future<Output = Result<T, PluginError>>,
    ) -> Result<T, PluginError> {
        let started = Instant::now();
        let result = call.await;
        let outcome = match &result {
            Ok(_) => "ok".to_string(),
            Err(e) => {
                let f = plugin_failure(e.clone());
                format!("{}: {}", f.kind, clip(&f.message, 512))
            }
        };
        self.audit(interface, function, args, outcome, started);
        result
    }

    /// The step's grants and the run's cloud, for a call's future to own.
    fn reach(&self) -> (Arc<Grants>, Option<Arc<Cloud>>) {
        (self.reach.grants.clone(), self.reach.cloud.clone())
    }

    /// Emits an event; a journal failure becomes a trap that stops the step.
    fn emit(&mut self, event: crate::events::Event) -> wasmtime::Result<()> {
        if let Err(e) = self.recorder.emit(event) {
            let msg = e.to_string();
            self.fatal.get_or_insert(msg.clone());
            wasmtime::bail!(msg);
        }
        Ok(())
    }
}

/// A step's host is dropped when its attempt ends: what its audit budget counted
/// rather than wrote is written then.
impl Drop for StepHost {
    fn drop(&mut self) {
        self.recorder.flush_audit(&self.step);
    }
}

impl crate::bindings::runner::plugin::types::Host for StepHost {}

/// Every page of a listing, up to `max` items: `page(token)` fetches one page and says
/// the next token (None after the last page).
pub async fn all_pages<T, Fut>(
    max: usize,
    mut page: impl FnMut(Option<String>) -> Fut,
) -> Result<Vec<T>, PluginError>
where
    Fut: Future<Output = Result<(Vec<T>, Option<String>), PluginError>>,
{
    let mut all = Vec::new();
    let mut token = None;
    loop {
        let (items, next) = page(token).await?;
        all.extend(items);
        token = next;
        if token.is_none() || all.len() >= max {
            return Ok(all);
        }
    }
}

/// A grant check's refusal as the contract's `denied` error.
pub fn denied(d: Denied) -> PluginError {
    PluginError::Denied(d.missing)
}

/// The run's cloud, once a grant has allowed the call. Only a workflow that grants
/// nothing to any step runs without one, and its grant checks deny first.
pub fn connected(cloud: Option<Arc<Cloud>>) -> Result<Arc<Cloud>, PluginError> {
    cloud.ok_or_else(|| PluginError::Internal("this run is not connected to a cloud".into()))
}
