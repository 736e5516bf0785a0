//! `log`: levelled, structured logs and progress from plugins.
//!
//! Sizes and counts are capped so a plugin cannot flood the journal or the terminal:
//! over-long text is cut (and says so), and past the per-step budget further calls
//! are dropped with a single warning.

use std::collections::BTreeMap;
use std::time::Instant;

use super::StepHost;
use crate::bindings::runner::plugin::log::{Field, Host, Level};
use crate::events::Event;
use crate::state::audit::clip;

pub const MAX_MESSAGE: usize = 4 << 10;
pub const MAX_FIELDS: usize = 64;
pub const MAX_FIELD: usize = 1 << 10;
pub const MAX_CALLS: u32 = 10_000;

pub fn level_name(level: Level) -> &'static str {
    match level {
        Level::Trace => "trace",
        Level::Debug => "debug",
        Level::Info => "info",
        Level::Warn => "warn",
        Level::Error => "error",
    }
}

impl StepHost {
    /// Counts a log or progress call; false once the budget is spent.
    fn within_log_budget(&mut self) -> wasmtime::Result<bool> {
        self.log_calls += 1;
        if self.log_calls == MAX_CALLS + 1 {
            self.emit(Event::StepLog {
                step: self.step.clone(),
                level: "warn".into(),
                message: format!("more than {MAX_CALLS} log and progress calls; dropping the rest"),
                fields: BTreeMap::new(),
            })?;
        }
        Ok(self.log_calls <= MAX_CALLS)
    }
}

impl Host for StepHost {
    async fn log(
        &mut self,
        level: Level,
        message: String,
        fields: Vec<Field>,
    ) -> wasmtime::Result<()> {
        let started = Instant::now();
        let args = format!(
            "{} {:?} ({} fields)",
            level_name(level),
            clip(&message, 64),
            fields.len()
        );
        if self.within_log_budget()? {
            let fields = fields
                .into_iter()
                .take(MAX_FIELDS)
                .map(|f| (clip(&f.key, MAX_FIELD), clip(&f.value, MAX_FIELD)))
                .collect();
            self.emit(Event::StepLog {
                step: self.step.clone(),
                level: level_name(level).into(),
                message: clip(&message, MAX_MESSAGE),
                fields,
            })?;
        }
        self.audit("log", "log", args, "ok".into(), started);
        Ok(())
    }

    async fn progress(&mut self, done: u64, total: u64, message: String) -> wasmtime::Result<()> {
        let started = Instant::now();
        let args = format!("{done}/{total} {:?}", clip(&message, 64));
        if self.within_log_budget()? {
            self.emit(Event::StepProgress {
                step: self.step.clone(),
                done,
                total,
                message: clip(&message, MAX_FIELD),
            })?;
        }
        self.audit("log", "progress", args, "ok".into(), started);
        Ok(())
    }
}
