//! The audit log: every host call a plugin makes, one JSON line each, in the run's
//! directory. Lines are written as they happen (no buffering across calls), so the
//! log of a killed run is complete up to the kill.

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

pub struct AuditLog {
    out: Mutex<LineWriter<File>>,
}

impl AuditLog {
    pub fn create(path: &Path) -> std::io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self {
            out: Mutex::new(LineWriter::new(file)),
        })
    }

    /// Appends one record. A failing audit write is reported, not fatal to the step:
    /// the journal, not the audit log, is what resume depends on.
    pub fn write(&self, record: &AuditRecord<'_>) {
        let mut line = match serde_json::to_vec(record) {
            Ok(l) => l,
            Err(e) => return tracing::warn!(error = %e, "encoding an audit record"),
        };
        line.push(b'\n');
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = out.write_all(&line) {
            tracing::warn!(error = %e, "writing the audit log");
        }
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
