//! The events of a run: what `--output json` prints, what the human renderer shows,
//! and what the journal stores. One type for all three, so `runner logs` can replay
//! a run exactly as it was seen live.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Bumped when an event changes shape; consumers check it first.
pub const EVENT_VERSION: u32 = 1;

/// One event with its envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub v: u32,
    /// Milliseconds since the Unix epoch.
    pub ts_ms: u64,
    #[serde(flatten)]
    pub event: Event,
}

impl Envelope {
    pub fn now(event: Event) -> Self {
        Self {
            v: EVENT_VERSION,
            ts_ms: now_ms(),
            event,
        }
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// What kind of run a journal records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    Exec,
    Destroy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Succeeded,
    Failed,
    Interrupted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Succeeded,
    Failed,
    Skipped,
    /// Completed in an earlier run with the same inputs; not run again.
    Reused,
    /// Its `destroy` completed.
    Destroyed,
}

/// Why a step failed: the plugin's error kind (or `trap`, `timeout`, `limit`,
/// `load`, `input`) and a message naming the cause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub kind: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        run: String,
        kind: RunKind,
        workflow: String,
        file: String,
        steps: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        resumed_from: Option<String>,
    },
    StepStarted {
        step: String,
        attempt: u32,
        plugin: String,
        sha256: String,
    },
    StepLog {
        step: String,
        level: String,
        message: String,
        #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
        fields: BTreeMap<String, String>,
    },
    StepProgress {
        step: String,
        done: u64,
        total: u64,
        message: String,
    },
    /// A step's durable state changed (`value` None: deleted). Journaled before the
    /// host call returns, so a crash never forgets what a step created.
    StepState {
        step: String,
        key: String,
        value: Option<String>,
    },
    /// A step's record copied from an earlier run of the workflow (resume, destroy),
    /// so every journal is complete on its own.
    StepCarried {
        step: String,
        from_run: String,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        status: Option<StepStatus>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        outputs: Option<Value>,
        #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
        state: BTreeMap<String, String>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        input_hash: Option<String>,
    },
    StepRetry {
        step: String,
        attempt: u32,
        delay_ms: u64,
        error: Failure,
    },
    StepFinished {
        step: String,
        status: StepStatus,
        attempt: u32,
        duration_ms: u64,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        outputs: Option<Value>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        error: Option<Failure>,
        /// Why a step was skipped.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        reason: Option<String>,
        /// Hash of the plugin and the interpolated inputs; resume compares it.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        input_hash: Option<String>,
    },
    RunFinished {
        run: String,
        status: RunStatus,
        duration_ms: u64,
        outputs: BTreeMap<String, Value>,
    },
}

impl Event {
    /// Events whose loss after a crash would change what a resumed run does; the
    /// journal syncs them to disk before going on.
    pub fn is_durable(&self) -> bool {
        // A lost start, retry, log or progress line changes nothing on resume (the
        // step simply runs again); they reach the disk with the next durable event.
        !matches!(
            self,
            Event::StepStarted { .. }
                | Event::StepRetry { .. }
                | Event::StepLog { .. }
                | Event::StepProgress { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialise_flat_with_version_and_tag() {
        let e = Envelope {
            v: 1,
            ts_ms: 5,
            event: Event::StepProgress {
                step: "a".into(),
                done: 1,
                total: 2,
                message: "m".into(),
            },
        };
        let text = serde_json::to_string(&e).unwrap();
        assert_eq!(
            text,
            r#"{"v":1,"ts_ms":5,"event":"step_progress","step":"a","done":1,"total":2,"message":"m"}"#
        );
        assert_eq!(serde_json::from_str::<Envelope>(&text).unwrap(), e);
    }
}
