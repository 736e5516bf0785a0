//! Runs on disk: `<state>/runs/<run-id>/journal.ndjson` and `audit.ndjson`, and what
//! a run's journal says about each step (replayed, for resume and destroy).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::journal::{Journal, JournalError};
use crate::events::{Envelope, Event, RunKind, RunStatus, StepStatus};

/// The state directory (`.runner` by default).
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

/// What a journal says about one step, after replaying it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepRecord {
    pub status: Option<StepStatus>,
    pub outputs: Option<Value>,
    pub state: BTreeMap<String, String>,
    pub input_hash: Option<String>,
}

/// What a journal says about a run.
#[derive(Debug, Clone)]
pub struct RunRecord {
    pub id: String,
    pub kind: RunKind,
    pub workflow: String,
    pub file: String,
    pub started_ms: u64,
    pub finished_ms: Option<u64>,
    /// None: the run never finished (it was killed, or is still going).
    pub status: Option<RunStatus>,
    pub resumed_from: Option<String>,
    pub steps: BTreeMap<String, StepRecord>,
}

impl RunRecord {
    /// Rebuilds a run's record from its events.
    pub fn replay(id: &str, events: &[Envelope]) -> Option<Self> {
        let first = events.first()?;
        let Event::RunStarted {
            kind,
            workflow,
            file,
            steps,
            resumed_from,
            ..
        } = &first.event
        else {
            return None;
        };
        let mut record = RunRecord {
            id: id.to_string(),
            kind: *kind,
            workflow: workflow.clone(),
            file: file.clone(),
            started_ms: first.ts_ms,
            finished_ms: None,
            status: None,
            resumed_from: resumed_from.clone(),
            steps: steps
                .iter()
                .map(|s| (s.clone(), StepRecord::default()))
                .collect(),
        };
        for e in &events[1..] {
            match &e.event {
                Event::StepState { step, key, value } => {
                    let state = &mut record.steps.entry(step.clone()).or_default().state;
                    match value {
                        Some(v) => state.insert(key.clone(), v.clone()),
                        None => state.remove(key),
                    };
                }
                Event::StepCarried {
                    step,
                    status,
                    outputs,
                    state,
                    input_hash,
                    ..
                } => {
                    let r = record.steps.entry(step.clone()).or_default();
                    r.status = *status;
                    r.outputs = outputs.clone();
                    r.state = state.clone();
                    r.input_hash = input_hash.clone();
                }
                Event::StepFinished {
                    step,
                    status,
                    outputs,
                    input_hash,
                    ..
                } => {
                    let r = record.steps.entry(step.clone()).or_default();
                    r.status = Some(*status);
                    match status {
                        StepStatus::Destroyed => {
                            r.outputs = None;
                            r.state.clear();
                        }
                        StepStatus::Succeeded | StepStatus::Reused => {
                            r.outputs = outputs.clone();
                            r.input_hash = input_hash.clone();
                        }
                        StepStatus::Failed | StepStatus::Skipped => {}
                    }
                }
                Event::RunFinished { status, .. } => {
                    record.status = Some(*status);
                    record.finished_ms = Some(e.ts_ms);
                }
                _ => {}
            }
        }
        Some(record)
    }
}

impl StateDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn runs_dir(&self) -> PathBuf {
        self.root.join("runs")
    }

    pub fn run_dir(&self, id: &str) -> PathBuf {
        self.runs_dir().join(id)
    }

    /// Creates the directory of a new run with a fresh, time-ordered id.
    pub fn create_run(&self) -> std::io::Result<(String, PathBuf)> {
        let runs = self.runs_dir();
        std::fs::create_dir_all(&runs)?;
        loop {
            let id = new_run_id();
            let dir = runs.join(&id);
            match std::fs::create_dir(&dir) {
                Ok(()) => return Ok((id, dir)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Run ids, oldest first (ids sort by time).
    pub fn run_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = std::fs::read_dir(self.runs_dir())
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().join("journal.ndjson").exists())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        ids.sort();
        ids
    }

    pub fn journal_path(&self, id: &str) -> PathBuf {
        self.run_dir(id).join("journal.ndjson")
    }

    pub fn audit_path(&self, id: &str) -> PathBuf {
        self.run_dir(id).join("audit.ndjson")
    }

    /// Replays one run's journal.
    pub fn record(&self, id: &str) -> Result<Option<RunRecord>, JournalError> {
        let contents = Journal::read(&self.journal_path(id))?;
        Ok(RunRecord::replay(id, &contents.events))
    }

    /// The newest run of a workflow (by name), repairing a torn journal tail first:
    /// only call this while holding the state lock.
    pub fn latest_of(&self, workflow: &str) -> Result<Option<RunRecord>, JournalError> {
        for id in self.run_ids().into_iter().rev() {
            let contents = Journal::repair(&self.journal_path(&id))?;
            if let Some(r) = RunRecord::replay(&id, &contents.events)
                && r.workflow == workflow
            {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }

    /// [`StateDir::latest_of`], completed from the runs it resumed: a run killed before it
    /// had copied the earlier records into its journal (between its start and its
    /// `step_carried` events) must not make the next run forget what was done.
    pub fn latest_with_history(&self, workflow: &str) -> Result<Option<RunRecord>, JournalError> {
        let Some(mut latest) = self.latest_of(workflow)? else {
            return Ok(None);
        };
        let mut from = latest
            .resumed_from
            .clone()
            .filter(|_| latest.status.is_none());
        // Bounded: each hop is an earlier run, and a chain longer than this is not a crash.
        for _ in 0..64 {
            let Some(id) = from.take() else { break };
            let contents = Journal::repair(&self.journal_path(&id))?;
            let Some(earlier) = RunRecord::replay(&id, &contents.events) else {
                break;
            };
            // Replay lists every step of the workflow, so a step the killed run never
            // got to carry is there as an empty record: it is filled, not kept empty.
            for (step, rec) in earlier.steps {
                let slot = latest.steps.entry(step).or_default();
                if *slot == StepRecord::default() {
                    *slot = rec;
                }
            }
            if earlier.status.is_none() {
                from = earlier.resumed_from;
            }
        }
        Ok(Some(latest))
    }

    /// Finds a run by id or unique id prefix (`latest` for the newest).
    pub fn find_run(&self, wanted: &str) -> Result<String, String> {
        let ids = self.run_ids();
        if wanted == "latest" {
            return ids
                .last()
                .cloned()
                .ok_or_else(|| format!("no runs in {}", self.root.display()));
        }
        let matches: Vec<&String> = ids.iter().filter(|id| id.starts_with(wanted)).collect();
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(format!(
                "no run `{wanted}` in {} (see `runner runs`)",
                self.root.display()
            )),
            many => Err(format!(
                "`{wanted}` matches {} runs; give more of the id",
                many.len()
            )),
        }
    }
}

/// `20261124T010203.456Z-1a2b`: sorts in creation order (runs on one state directory
/// are serialised by the lock and take more than a millisecond), unique with the suffix.
fn new_run_id() -> String {
    let now = jiff::Timestamp::now();
    let suffix =
        (now.subsec_nanosecond().unsigned_abs() ^ std::process::id().rotate_left(16)) & 0xffff;
    format!("{}-{suffix:04x}", now.strftime("%Y%m%dT%H%M%S%.3fZ"))
}

/// A time in ms since the epoch as `2026-11-24 01:02:03 UTC`.
pub fn format_time(ms: u64) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .unwrap_or(jiff::Timestamp::MAX)
        .strftime("%Y-%m-%d %H:%M:%S UTC")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_journal(state: &StateDir, id: &str, lines: &[String]) {
        std::fs::create_dir_all(state.run_dir(id)).unwrap();
        std::fs::write(state.journal_path(id), lines.join("\n") + "\n").unwrap();
    }

    fn started(id: &str, resumed_from: Option<&str>) -> String {
        let from = resumed_from
            .map(|f| format!(r#","resumed_from":"{f}""#))
            .unwrap_or_default();
        format!(
            r#"{{"v":1,"ts_ms":1,"event":"run_started","run":"{id}","kind":"exec","workflow":"w","file":"w.toml","steps":["s0","s1","s2"]{from}}}"#
        )
    }

    fn finished(step: &str) -> String {
        format!(
            r#"{{"v":1,"ts_ms":2,"event":"step_finished","step":"{step}","status":"succeeded","attempt":1,"duration_ms":1,"outputs":{{"step":"{step}"}},"input_hash":"h-{step}"}}"#
        )
    }

    /// A run killed while it copied the earlier records (here after the first of
    /// three) must not make the next run forget the steps it had not copied yet.
    #[test]
    fn a_run_killed_while_carrying_keeps_the_earlier_records() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        write_journal(
            &state,
            "20260101T000000.000Z-0001",
            &[
                started("20260101T000000.000Z-0001", None),
                finished("s0"),
                finished("s1"),
            ],
        );
        write_journal(
            &state,
            "20260101T000001.000Z-0002",
            &[
                started("20260101T000001.000Z-0002", Some("20260101T000000.000Z-0001")),
                r#"{"v":1,"ts_ms":3,"event":"step_carried","step":"s0","from_run":"20260101T000000.000Z-0001","status":"succeeded","outputs":{"step":"s0"},"input_hash":"h-s0"}"#.to_string(),
            ],
        );
        let latest = state.latest_with_history("w").unwrap().unwrap();
        assert_eq!(latest.id, "20260101T000001.000Z-0002");
        for step in ["s0", "s1"] {
            let rec = &latest.steps[step];
            assert_eq!(rec.status, Some(StepStatus::Succeeded), "{step}");
            assert_eq!(
                rec.input_hash.as_deref(),
                Some(format!("h-{step}").as_str())
            );
        }
        assert_eq!(latest.steps["s2"], StepRecord::default(), "s2 never ran");
    }

    #[test]
    fn dates_are_converted_exactly() {
        assert_eq!(format_time(1_795_482_123_000), "2026-11-24 01:02:03 UTC");
    }
}
