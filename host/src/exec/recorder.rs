//! The hub every event of a run passes through: it journals the event (durably
//! where it matters) and hands it to whoever is watching (human or JSON output).

use std::sync::Arc;

use crate::events::{Envelope, Event};
use crate::state::audit::AuditRecord;
use crate::state::{AuditLog, Journal};

/// Where live events go besides the journal.
pub trait EventSink: Send + Sync {
    fn event(&self, envelope: &Envelope);
}

/// A sink that shows nothing (benchmarks, `validate`).
pub struct Silent;

impl EventSink for Silent {
    fn event(&self, _: &Envelope) {}
}

pub struct Recorder {
    pub run: String,
    /// None for calls outside a run (`describe` during validation): nothing is kept.
    journal: Option<Journal>,
    audit: Option<AuditLog>,
    sink: Arc<dyn EventSink>,
}

impl Recorder {
    pub fn new(run: String, journal: Journal, audit: AuditLog, sink: Arc<dyn EventSink>) -> Self {
        Self {
            run,
            journal: Some(journal),
            audit: Some(audit),
            sink,
        }
    }

    /// A recorder that keeps an audit log but no journal: the policy loop, whose
    /// decisions are not steps to resume.
    pub fn audit_only(run: String, audit: AuditLog, sink: Arc<dyn EventSink>) -> Self {
        Self {
            run,
            journal: None,
            audit: Some(audit),
            sink,
        }
    }

    /// A recorder that keeps nothing but shows events (a policy's log lines offline).
    pub fn detached_with(sink: Arc<dyn EventSink>) -> Self {
        Self {
            sink,
            ..Self::detached()
        }
    }

    /// A recorder that keeps nothing, for plugin calls that are not part of a run.
    pub fn detached() -> Self {
        Self {
            run: String::new(),
            journal: None,
            audit: None,
            sink: Arc::new(Silent),
        }
    }

    /// Journals the event, then shows it. A journal that cannot be written is fatal to
    /// the run: going on would break the promise that nothing is lost.
    pub fn emit(&self, event: Event) -> std::io::Result<()> {
        let envelope = Envelope::now(event);
        if let Some(journal) = &self.journal {
            journal.append(&envelope).map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("writing the run journal {}: {e}", journal.path().display()),
                )
            })?;
        }
        self.sink.event(&envelope);
        Ok(())
    }

    pub fn audit(&self, record: &AuditRecord<'_>) {
        if let Some(audit) = &self.audit {
            audit.write(record);
        }
    }

    /// Writes the counts of `step`'s calls that were counted rather than audited.
    pub fn flush_audit(&self, step: &str) {
        if let Some(audit) = &self.audit {
            audit.flush_step(&self.run, step);
        }
    }
}
