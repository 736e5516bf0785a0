//! How a run is shown: NDJSON events for machines, and for people either live
//! per-step progress (stderr is a terminal) or plain lines (logs, CI).

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::engine::outcome::duration;
use crate::events::{Envelope, Event, RunStatus, StepStatus};
use crate::exec::recorder::EventSink;
use crate::state::audit::clip;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Human,
    Json,
}

/// Prints every event as one JSON line on stdout.
pub struct JsonLines;

impl EventSink for JsonLines {
    fn event(&self, envelope: &Envelope) {
        let mut out = std::io::stdout().lock();
        if let Ok(line) = serde_json::to_string(envelope) {
            let _ = writeln!(out, "{line}");
        }
    }
}

/// One line per event, for logs and CI; progress is rate-limited per step.
pub struct PlainLines {
    last_progress: Mutex<HashMap<String, Instant>>,
}

impl PlainLines {
    pub fn new() -> Self {
        Self {
            last_progress: Mutex::new(HashMap::new()),
        }
    }
}

impl Default for PlainLines {
    fn default() -> Self {
        Self::new()
    }
}

/// The text of an event for people; None for events not worth a line.
pub fn describe(event: &Event) -> Option<String> {
    Some(match event {
        Event::RunStarted {
            run,
            kind,
            workflow,
            steps,
            resumed_from,
            ..
        } => {
            let verb = match kind {
                crate::events::RunKind::Exec => "exec",
                crate::events::RunKind::Destroy => "destroy",
            };
            let resumed = resumed_from
                .as_ref()
                .map(|r| format!(", resuming {r}"))
                .unwrap_or_default();
            format!(
                "run {run}: {verb} {workflow} ({} steps{resumed})",
                steps.len()
            )
        }
        Event::StepStarted {
            step,
            attempt,
            plugin,
            ..
        } => {
            if *attempt == 1 {
                format!("[{step}] started ({plugin})")
            } else {
                format!("[{step}] attempt {attempt} started")
            }
        }
        Event::StepLog {
            step,
            level,
            message,
            fields,
        } => {
            let fields: String = fields
                .iter()
                .map(|(k, v)| format!(" {k}={}", clip(v, 200)))
                .collect();
            format!("[{step}] {level}: {}{fields}", clip(message, 500))
        }
        Event::StepProgress {
            step,
            done,
            total,
            message,
        } => {
            if *total > 0 {
                format!("[{step}] {done}/{total} {message}")
            } else {
                format!("[{step}] {done} {message}")
            }
        }
        Event::StepState { .. } | Event::StepCarried { .. } => return None,
        Event::StepRetry {
            step,
            attempt,
            delay_ms,
            error,
        } => format!(
            "[{step}] attempt {attempt} failed ({}: {}); retrying in {}",
            error.kind,
            error.message,
            duration(Duration::from_millis(*delay_ms))
        ),
        Event::StepFinished {
            step,
            status,
            duration_ms,
            error,
            reason,
            ..
        } => {
            let took = duration(Duration::from_millis(*duration_ms));
            match status {
                StepStatus::Succeeded => format!("[{step}] ok in {took}"),
                StepStatus::Destroyed => format!("[{step}] destroyed in {took}"),
                StepStatus::Reused => {
                    format!("[{step}] unchanged since an earlier run; not run again")
                }
                StepStatus::Skipped => {
                    format!("[{step}] skipped: {}", reason.as_deref().unwrap_or(""))
                }
                StepStatus::Failed => {
                    let e = error
                        .as_ref()
                        .map(|e| format!("{}: {}", e.kind, e.message))
                        .unwrap_or_default();
                    format!("[{step}] FAILED after {took}: step `{step}` {e}")
                }
            }
        }
        Event::RunFinished {
            run,
            status,
            duration_ms,
            ..
        } => {
            let took = duration(Duration::from_millis(*duration_ms));
            match status {
                RunStatus::Succeeded => format!("run {run} succeeded in {took}"),
                RunStatus::Failed => format!("run {run} FAILED after {took}"),
                RunStatus::Interrupted => format!("run {run} interrupted after {took}"),
            }
        }
    })
}

impl EventSink for PlainLines {
    fn event(&self, envelope: &Envelope) {
        if let Event::StepProgress {
            step, done, total, ..
        } = &envelope.event
        {
            let mut last = self.last_progress.lock().unwrap();
            let now = Instant::now();
            let finished = total > &0 && done >= total;
            if !finished
                && last
                    .get(step)
                    .is_some_and(|t| now.duration_since(*t) < Duration::from_secs(1))
            {
                return;
            }
            last.insert(step.clone(), now);
        }
        if let Some(line) = describe(&envelope.event) {
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        }
    }
}

/// Live progress: a line per running step that updates in place, with logs and
/// results printed above.
pub struct LiveProgress {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl LiveProgress {
    pub fn new() -> Self {
        Self {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bars: Mutex::new(HashMap::new()),
        }
    }

    fn bar(&self, step: &str) -> ProgressBar {
        let mut bars = self.bars.lock().unwrap();
        bars.entry(step.to_string())
            .or_insert_with(|| {
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner} {prefix:.bold} {elapsed:>4} {wide_msg}",
                    )
                    .unwrap(),
                );
                bar.set_prefix(step.to_string());
                bar.enable_steady_tick(Duration::from_millis(100));
                bar
            })
            .clone()
    }
}

impl Default for LiveProgress {
    fn default() -> Self {
        Self::new()
    }
}

impl EventSink for LiveProgress {
    fn event(&self, envelope: &Envelope) {
        match &envelope.event {
            Event::StepStarted { step, .. } => self.bar(step).set_message("running"),
            Event::StepProgress {
                step,
                done,
                total,
                message,
            } => {
                let pct = if *total > 0 {
                    format!("{}% ", done * 100 / total)
                } else {
                    String::new()
                };
                self.bar(step).set_message(format!("{pct}{message}"));
            }
            Event::StepFinished { step, .. } => {
                if let Some(bar) = self.bars.lock().unwrap().remove(step) {
                    bar.finish_and_clear();
                    self.multi.remove(&bar);
                }
                if let Some(line) = describe(&envelope.event) {
                    let _ = self.multi.println(line);
                }
            }
            event => {
                if let Some(line) = describe(event) {
                    let _ = self.multi.println(line);
                }
            }
        }
    }
}
