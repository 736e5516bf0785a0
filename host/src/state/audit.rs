//! The audit log: every host call a plugin makes, one JSON line each, in the run's
//! directory. Lines are written as they happen (no buffering across calls), so the
//! log of a killed run is complete up to the kill.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{LineWriter, Write};
use std::path::Path;
use std::sync::Mutex;

use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct AuditRecord<'a> {
    pub ts_ms: u64,
    pub run: &'a str,
    pub step: &'a str,
    pub interface: &'a str,
    pub function: &'a str,
    /// A bounded summary of the arguments, never secrets.
    pub args: String,
    /// `ok`, or the error or trap the call ended with.
    pub outcome: String,
    pub duration_us: u64,
}

/// Records each step may write in full. Past it, a call is still written in full the
/// first time its (interface, function, outcome) is seen (so the first denial of each
/// kind is never lost), and otherwise counted; the counts are written as one
/// `repeated` record per kind when the step's host is done (or the log is closed). A
/// plugin making a million denied calls costs the log thousands of lines, not millions.
pub const MAX_RECORDS_PER_STEP: u64 = 10_000;

/// One line standing for calls that were counted rather than written.
#[derive(Debug, Serialize)]
struct Repeated<'a> {
    ts_ms: u64,
    run: &'a str,
    step: &'a str,
    interface: &'a str,
    function: &'a str,
    /// The outcome's kind (`ok`, `denied`, ...): messages of one kind may differ.
    outcome: &'a str,
    /// How many calls of this kind were counted, not written.
    repeated: u64,
    first_ts_ms: u64,
    last_ts_ms: u64,
}

#[derive(Default)]
struct StepBudget {
    written: u64,
    /// Kinds of call written in full at least once.
    seen: HashSet<(String, String, String)>,
    /// Kinds counted past the budget: count, first and last time.
    counted: BTreeMap<(String, String, String), (u64, u64, u64)>,
}

struct Inner {
    out: LineWriter<File>,
    /// By run and step.
    steps: HashMap<(String, String), StepBudget>,
}

pub struct AuditLog {
    inner: Mutex<Inner>,
}

/// `denied: no grant ...` -> `denied`; `ok (absent)` -> `ok`.
fn outcome_kind(outcome: &str) -> &str {
    let end = outcome.find([':', ' ']).unwrap_or(outcome.len());
    &outcome[..end]
}

impl AuditLog {
    pub fn create(path: &Path) -> std::io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self {
            inner: Mutex::new(Inner {
                out: LineWriter::new(file),
                steps: HashMap::new(),
            }),
        })
    }

    /// Appends one record, or counts it once its step is past its budget. A failing
    /// audit write is reported, not fatal to the step: the journal, not the audit log,
    /// is what resume depends on.
    pub fn write(&self, record: &AuditRecord<'_>) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let budget = inner
            .steps
            .entry((record.run.to_string(), record.step.to_string()))
            .or_default();
        let kind = (
            record.interface.to_string(),
            record.function.to_string(),
            outcome_kind(&record.outcome).to_string(),
        );
        if budget.written >= MAX_RECORDS_PER_STEP && budget.seen.contains(&kind) {
            let slot = budget
                .counted
                .entry(kind)
                .or_insert((0, record.ts_ms, record.ts_ms));
            slot.0 += 1;
            slot.2 = record.ts_ms;
            return;
        }
        budget.written += 1;
        budget.seen.insert(kind);
        write_line(&mut inner.out, record);
    }

    /// Writes what was counted for `step` of `run` and starts its count afresh.
    pub fn flush_step(&self, run: &str, step: &str) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let counted = match inner.steps.get_mut(&(run.to_string(), step.to_string())) {
            Some(budget) => std::mem::take(&mut budget.counted),
            None => return,
        };
        for ((interface, function, outcome), (repeated, first_ts_ms, last_ts_ms)) in &counted {
            write_line(
                &mut inner.out,
                &Repeated {
                    ts_ms: crate::events::now_ms(),
                    run,
                    step,
                    interface,
                    function,
                    outcome,
                    repeated: *repeated,
                    first_ts_ms: *first_ts_ms,
                    last_ts_ms: *last_ts_ms,
                },
            );
        }
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        let keys: Vec<(String, String)> = {
            let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            inner.steps.keys().cloned().collect()
        };
        for (run, step) in keys {
            self.flush_step(&run, &step);
        }
    }
}

fn write_line(out: &mut LineWriter<File>, record: &impl Serialize) {
    let mut line = match serde_json::to_vec(record) {
        Ok(l) => l,
        Err(e) => return tracing::warn!(error = %e, "encoding an audit record"),
    };
    line.push(b'\n');
    if let Err(e) = out.write_all(&line) {
        tracing::warn!(error = %e, "writing the audit log");
    }
}

/// Cuts a string to at most `max` bytes on a character boundary, marking the cut.
pub fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &s[..end], s.len())
}
