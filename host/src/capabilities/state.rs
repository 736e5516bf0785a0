//! `state`: a step's durable key/value store, for what it must remember across
//! retries, resumes and `destroy` (typically the ids of what it created).
//!
//! A `set` is journaled and synced before it returns: once a plugin has recorded an
//! id, no crash can make runner forget it.

use std::time::Instant;

use super::StepHost;
use crate::bindings::PluginError;
use crate::bindings::runner::plugin::state::Host;
use crate::events::Event;
use crate::state::audit::clip;

pub const MAX_KEY: usize = 256;
pub const MAX_VALUE: usize = 64 << 10;
/// Each `set` is an fsync; a step records ids of what it made, not a database.
pub const MAX_KEYS: usize = 128;
/// Bytes of state writes (key and value) one attempt may journal: enough to write the
/// largest state a step may keep ([`MAX_KEYS`] values of [`MAX_VALUE`]) once. A plugin
/// rewriting one key in a loop would otherwise grow the journal without bound.
pub const MAX_JOURNALED: usize = MAX_KEYS * MAX_VALUE;

/// Checks a write against the limits; the message tells the plugin author what to fix.
fn check(
    state: &std::collections::BTreeMap<String, String>,
    key: &str,
    value: &str,
) -> Result<(), PluginError> {
    if key.is_empty() || key.len() > MAX_KEY {
        return Err(PluginError::Invalid(format!(
            "state keys must be 1 to {MAX_KEY} bytes, got {}",
            key.len()
        )));
    }
    if value.len() > MAX_VALUE {
        return Err(PluginError::Invalid(format!(
            "state value for `{}` is {} bytes; the limit is {MAX_VALUE}",
            clip(key, 64),
            value.len()
        )));
    }
    if !state.contains_key(key) && state.len() >= MAX_KEYS {
        return Err(PluginError::Invalid(format!(
            "a step may keep at most {MAX_KEYS} state keys"
        )));
    }
    Ok(())
}

fn outcome<T>(r: &Result<T, PluginError>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => format!("error: {e:?}"),
    }
}

impl Host for StepHost {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        let started = Instant::now();
        let value = self.state.get(&key).cloned();
        let found = if value.is_some() { "ok" } else { "ok (absent)" };
        self.audit("state", "get", clip(&key, 64), found.into(), started);
        Ok(value)
    }

    async fn set(
        &mut self,
        key: String,
        value: String,
    ) -> wasmtime::Result<Result<(), PluginError>> {
        let started = Instant::now();
        let args = format!("{} ({} bytes)", clip(&key, 64), value.len());
        let result = check(&self.state, &key, &value).and_then(|()| {
            if self.state.get(&key) == Some(&value) {
                return Ok(false); // unchanged: nothing to journal
            }
            let cost = key.len() + value.len();
            if self.state_journaled + cost > MAX_JOURNALED {
                return Err(PluginError::Invalid(format!(
                    "this attempt has written {} bytes of state; writing {cost} more would pass the limit of {MAX_JOURNALED} (state is for what a step must remember, not a log)",
                    self.state_journaled
                )));
            }
            Ok(true)
        });
        if let Ok(true) = result {
            self.state_journaled += key.len() + value.len();
            self.emit(Event::StepState {
                step: self.step.clone(),
                key: key.clone(),
                value: Some(value.clone()),
            })?;
            self.state.insert(key, value);
        }
        self.audit("state", "set", args, outcome(&result), started);
        Ok(result.map(drop))
    }

    async fn delete(&mut self, key: String) -> wasmtime::Result<Result<(), PluginError>> {
        let started = Instant::now();
        if self.state.remove(&key).is_some() {
            self.state_journaled += key.len();
            self.emit(Event::StepState {
                step: self.step.clone(),
                key: key.clone(),
                value: None,
            })?;
        }
        self.audit("state", "delete", clip(&key, 64), "ok".into(), started);
        Ok(Ok(()))
    }

    async fn keys(&mut self) -> wasmtime::Result<Vec<String>> {
        let started = Instant::now();
        let keys: Vec<String> = self.state.keys().cloned().collect();
        self.audit(
            "state",
            "keys",
            String::new(),
            format!("ok ({} keys)", keys.len()),
            started,
        );
        Ok(keys)
    }
}
