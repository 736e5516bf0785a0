//! Observations as files: what `runner watch --record` writes and `runner policy test`
//! replays. One JSON object per line (a JSON array is accepted too), the WIT
//! `observation` record with snake_case fields; `params` is a JSON object rather than
//! JSON text, and `memory` is never recorded: a replay threads its own policy's memory.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::apply::Planned;
use crate::bindings::policy::{Decision, Observation};

/// Most observations one file may hold.
pub const MAX_OBSERVATIONS: usize = 100_000;
/// The largest observations file read: 100,000 observations of a few KiB each.
pub const MAX_OBSERVATIONS_BYTES: u64 = 512 << 20;

/// Why an observations file cannot be replayed, naming the file and line.
#[derive(Debug, thiserror::Error)]
#[error("{file}{}: {problem}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct BadObservations {
    pub file: String,
    pub line: Option<usize>,
    pub problem: String,
}

/// Reads every observation of `path`, in order.
pub fn read(path: &Path) -> Result<Vec<Observation>, BadObservations> {
    let bad = |line: Option<usize>, problem: String| BadObservations {
        file: path.display().to_string(),
        line,
        problem,
    };
    let bytes = runner_workflow::read_regular_file(path, MAX_OBSERVATIONS_BYTES)
        .map_err(|e| bad(None, e.to_string()))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        bad(
            None,
            format!(
                "not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })?;
    let mut values: Vec<(usize, Value)> = Vec::new();
    if text.trim_start().starts_with('[') {
        let Value::Array(items) =
            serde_json::from_str::<Value>(&text).map_err(|e| bad(Some(e.line()), e.to_string()))?
        else {
            unreachable!("text starting with `[` parses as an array or not at all");
        };
        values.extend(items.into_iter().map(|v| (1, v)));
    } else {
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let value = serde_json::from_str::<Value>(line)
                .map_err(|e| bad(Some(i + 1), format!("not JSON: {e}")))?;
            values.push((i + 1, value));
        }
    }
    if values.is_empty() {
        return Err(bad(None, "holds no observations".into()));
    }
    if values.len() > MAX_OBSERVATIONS {
        return Err(bad(
            None,
            format!(
                "holds {} observations; at most {MAX_OBSERVATIONS}",
                values.len()
            ),
        ));
    }
    values
        .into_iter()
        .map(|(line, value)| from_record(value).map_err(|p| bad(Some(line), p)))
        .collect()
}

/// One recorded observation (see the module doc) as the WIT record.
pub fn from_record(mut value: Value) -> Result<Observation, String> {
    let Some(map) = value.as_object_mut() else {
        return Err("an observation must be a JSON object".into());
    };
    let params = match map.remove("params") {
        None | Some(Value::Null) => "{}".to_string(),
        Some(p @ Value::Object(_)) => p.to_string(),
        Some(_) => return Err("`params` must be a JSON object".into()),
    };
    map.insert("params".into(), Value::String(params));
    map.insert("memory".into(), Value::Null);
    serde_json::from_value(value).map_err(|e| format!("not an observation: {e}"))
}

/// The observation as a record line: `params` as an object, no `memory`.
pub fn to_record(observation: &Observation) -> Value {
    let mut value = serde_json::to_value(observation).expect("observations serialize");
    if let Some(map) = value.as_object_mut() {
        map.remove("memory");
        let params = serde_json::from_str(&observation.params).unwrap_or(Value::Null);
        map.insert("params".into(), params);
    }
    value
}

/// The decision as JSON for output: `memory` as the JSON it holds.
pub fn decision_json(decision: &Decision) -> Value {
    let mut value = serde_json::to_value(decision).expect("decisions serialize");
    if let (Some(map), Some(memory)) = (value.as_object_mut(), &decision.memory) {
        map.insert(
            "memory".into(),
            serde_json::from_str(memory).unwrap_or(Value::Null),
        );
    }
    value
}

/// Each region's dial, as the observation shows it.
pub fn dials(observation: &Observation) -> BTreeMap<String, f32> {
    observation
        .listeners
        .iter()
        .flat_map(|l| &l.endpoint_groups)
        .map(|g| (g.region.clone(), g.traffic_dial_percentage))
        .collect()
}

/// What one decision left applied, carried into the observations after it when a
/// recording is replayed (it was taken without this policy's moves).
#[derive(Debug, Default, Clone)]
pub struct Carried {
    dials: BTreeMap<String, f32>,
    weights: BTreeMap<(String, String), u8>,
}

impl Carried {
    /// Keeps what `change` set: its dial, if any, and its weights.
    pub fn take(&mut self, change: &Planned) {
        if let Some(dial) = change.dial {
            self.dials.insert(change.group.clone(), dial);
        }
        for (endpoint, _, weight) in &change.weights {
            self.weights
                .insert((change.group.clone(), endpoint.clone()), *weight);
        }
    }

    /// Overwrites the observation's dials and weights with what was applied.
    pub fn overlay(&self, observation: &mut Observation) {
        for group in observation
            .listeners
            .iter_mut()
            .flat_map(|l| l.endpoint_groups.iter_mut())
        {
            if let Some(dial) = self.dials.get(&group.arn) {
                group.traffic_dial_percentage = *dial;
            }
            for endpoint in &mut group.endpoints {
                let key = (group.arn.clone(), endpoint.endpoint_id.clone());
                if let Some(weight) = self.weights.get(&key) {
                    endpoint.weight = *weight;
                }
            }
        }
    }
}
