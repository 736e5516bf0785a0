//! Host capabilities: one module per WIT interface. Every call is bounded (sizes,
//! counts), traced, and written to the run's audit log.
//!
//! `StepHost` is the per-step context the interfaces share.

pub mod log;
pub mod state;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use crate::events::now_ms;
use crate::exec::recorder::Recorder;
use crate::state::audit::{AuditRecord, clip};

/// The host side of one running step.
pub struct StepHost {
    pub step: String,
    pub recorder: Arc<Recorder>,
    /// The step's durable state, as journaled.
    pub state: BTreeMap<String, String>,
    log_calls: u32,
    /// The first journal failure: reported as the step's failure.
    pub fatal: Option<String>,
}

impl StepHost {
    pub fn new(step: String, recorder: Arc<Recorder>, state: BTreeMap<String, String>) -> Self {
        Self {
            step,
            recorder,
            state,
            log_calls: 0,
            fatal: None,
        }
    }

    /// Records one host call in the audit log.
    fn audit(
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

impl crate::bindings::runner::plugin::types::Host for StepHost {}
