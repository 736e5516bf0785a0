//! One call into a plugin (`describe`, `run` or `destroy`) in a fresh store, and the
//! translation of whatever happened into a result or a `Failure` that names the cause:
//! the plugin's own error, a limit it hit (memory, fuel, deadline, output size) or a
//! trap. Nothing a guest does can make this panic.

use std::time::Duration;

use serde_json::Value;
use wasmtime::Trap;

use super::limits::bytes;
use super::{LoadedPlugin, StepLimits, StepState, WasmEngine};
use crate::bindings::{Description, Invocation, PluginError, Recorded};
use crate::capabilities::StepHost;
use crate::events::Failure;

/// Extra time past the deadline before a step stuck inside a host call is abandoned
/// (guest code itself is stopped at the deadline by epoch interruption).
pub(crate) const HOST_CALL_GRACE: Duration = Duration::from_millis(500);

pub enum Call<'a> {
    Describe(&'a String),
    Run(&'a Invocation),
    Destroy(&'a Invocation, &'a Recorded),
}

#[derive(Debug)]
pub enum Returned {
    Description(Description),
    Outputs(serde_json::Map<String, Value>),
    Done,
}

/// The longest failure message kept, as long as a log message: a plugin's error text
/// is printed, journaled and audited, so a 64 MiB one would cost all three 64 MiB.
pub const MAX_FAILURE_MESSAGE: usize = crate::capabilities::log::MAX_MESSAGE;

impl Failure {
    /// A failure whose message is cut to [`MAX_FAILURE_MESSAGE`] bytes (and says so).
    pub fn new(kind: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            kind: kind.into(),
            message: if message.len() > MAX_FAILURE_MESSAGE {
                crate::state::audit::clip(&message, MAX_FAILURE_MESSAGE)
            } else {
                message
            },
        }
    }

    /// Only these kinds are worth retrying: the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(self.kind.as_str(), "throttled" | "unavailable" | "timeout")
    }
}

pub fn plugin_failure(e: PluginError) -> Failure {
    let (kind, msg) = match e {
        PluginError::Denied(m) => ("denied", m),
        PluginError::NotFound(m) => ("not-found", m),
        PluginError::Conflict(m) => ("conflict", m),
        PluginError::Invalid(m) => ("invalid", m),
        PluginError::Throttled(m) => ("throttled", m),
        PluginError::Unavailable(m) => ("unavailable", m),
        PluginError::Timeout(m) => ("timeout", m),
        PluginError::Internal(m) => ("internal", m),
    };
    Failure::new(kind, msg)
}

/// What came back across the boundary, before it is checked.
enum Raw {
    Description(Description),
    Json(String),
    Done,
}

/// Calls the plugin once, and hands back the step's host context (with the state the
/// plugin left) once the store is gone.
pub async fn call(
    engine: &WasmEngine,
    plugin: &LoadedPlugin,
    host: StepHost,
    limits: &StepLimits,
    call: Call<'_>,
) -> (Result<Returned, Failure>, StepHost) {
    let mut store = engine.store(host, limits);
    let fut = async {
        let step = engine.instantiate(plugin, &mut store).await?;
        Ok::<_, wasmtime::Error>(match call {
            Call::Describe(params) => step
                .call_describe(&mut store, params)
                .await?
                .map(Raw::Description),
            Call::Run(inv) => step.call_run(&mut store, inv).await?.map(Raw::Json),
            Call::Destroy(inv, rec) => step
                .call_destroy(&mut store, inv, rec)
                .await?
                .map(|()| Raw::Done),
        })
    };
    let outcome = tokio::time::timeout(limits.timeout + HOST_CALL_GRACE, fut).await;
    let result = settle(outcome, store.data(), limits);
    (result, store.into_data().host)
}

type Attempt = Result<wasmtime::Result<Result<Raw, PluginError>>, tokio::time::error::Elapsed>;

fn settle(outcome: Attempt, state: &StepState, limits: &StepLimits) -> Result<Returned, Failure> {
    if let Some(fatal) = &state.host.fatal {
        return Err(Failure::new("internal", fatal.clone()));
    }
    match outcome {
        Err(_elapsed) => Err(timed_out(limits)),
        Ok(Err(trap)) => Err(explain_trap(&trap, state, limits)),
        Ok(Ok(Err(plugin_error))) => Err(plugin_failure(plugin_error)),
        Ok(Ok(Ok(Raw::Json(json)))) => parse_outputs(&json, limits).map(Returned::Outputs),
        Ok(Ok(Ok(Raw::Description(d)))) => Ok(Returned::Description(d)),
        Ok(Ok(Ok(Raw::Done))) => Ok(Returned::Done),
    }
}

pub(crate) fn timed_out(limits: &StepLimits) -> Failure {
    Failure::new(
        "timeout",
        format!(
            "timed out: exceeded its deadline of {}",
            duration(limits.timeout)
        ),
    )
}

/// Names the limit or fault behind a trap.
pub(crate) fn explain_trap(
    err: &wasmtime::Error,
    state: &StepState,
    limits: &StepLimits,
) -> Failure {
    if let Some(wanted) = state.limiter.breach {
        return Failure::new(
            "limit",
            format!(
                "memory limit of {} exceeded (the plugin asked for {})",
                bytes(limits.memory),
                bytes(wanted as u64)
            ),
        );
    }
    match err.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => timed_out(limits),
        Some(Trap::OutOfFuel) => Failure::new(
            "limit",
            format!(
                "fuel limit of {} exhausted",
                limits.fuel.unwrap_or_default()
            ),
        ),
        Some(Trap::StackOverflow) => Failure::new(
            "limit",
            "stack overflow: exceeded the wasm stack limit of 512 KiB",
        ),
        Some(Trap::MemoryOutOfBounds) => Failure::new(
            "trap",
            "out-of-bounds memory access (a guest stack overflow looks like this: its stack lives in linear memory)",
        ),
        Some(Trap::UnreachableCodeReached) => match panic_message(state) {
            Some(msg) => Failure::new("trap", format!("plugin panicked: {msg}")),
            None => Failure::new("trap", "plugin trapped: unreachable instruction executed"),
        },
        Some(trap) => Failure::new("trap", format!("plugin trapped: {trap}")),
        // Not a wasm trap: the host refused what the guest passed it (a pointer outside
        // its memory, an enum out of range) or a host call failed. The root cause says
        // which; the wasm backtrace above it helps nobody reading a step failure.
        None => Failure::new(
            "trap",
            format!("plugin failed in a host call: {}", err.root_cause()),
        ),
    }
}

/// Rust guests print their panic message to stderr before trapping.
fn panic_message(state: &StepState) -> Option<String> {
    let stderr = state.stderr.contents();
    let text = String::from_utf8_lossy(&stderr);
    let line = text.lines().find(|l| l.contains("panicked"))?;
    let mut msg = line.trim().to_string();
    // "thread '<unnamed>' panicked at src/lib.rs:10:9:" is followed by the message.
    if msg.ends_with(':')
        && let Some(next) = text.lines().skip_while(|l| !l.contains("panicked")).nth(1)
    {
        msg = format!("{} {}", msg, next.trim());
    }
    Some(crate::state::audit::clip(&msg, 1024))
}

/// Most JSON values (and object keys) an output may hold. Parsed, each costs the host
/// 32 to 100 bytes however short its text (`0,` is two bytes), so a list of ten million
/// zeros in 20 MB of output would cost a gigabyte: the count, not only the byte size,
/// is bounded. Outputs are ids and names for later steps, far below this.
pub const MAX_OUTPUT_NODES: usize = 100_000;

/// An upper bound on the values and keys in JSON text, without parsing it: one more
/// than the separators (`,` `:`) and openings (`[` `{`) outside strings.
fn json_nodes(json: &[u8]) -> usize {
    let mut nodes = 1;
    let mut in_string = false;
    let mut escaped = false;
    for &b in json {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
        } else {
            match b {
                b'"' => in_string = true,
                b',' | b':' | b'[' | b'{' => nodes += 1,
                _ => {}
            }
        }
    }
    nodes
}

fn parse_outputs(
    json: &str,
    limits: &StepLimits,
) -> Result<serde_json::Map<String, Value>, Failure> {
    if json.len() as u64 > limits.output {
        return Err(Failure::new(
            "limit",
            format!(
                "output of {} exceeds the output limit of {}",
                bytes(json.len() as u64),
                bytes(limits.output)
            ),
        ));
    }
    let nodes = json_nodes(json.as_bytes());
    if nodes > MAX_OUTPUT_NODES {
        return Err(Failure::new(
            "limit",
            format!(
                "output holds about {nodes} JSON values; at most {MAX_OUTPUT_NODES} are accepted"
            ),
        ));
    }
    match serde_json::from_str::<Value>(json) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(Failure::new(
            "invalid",
            format!("outputs must be a JSON object, got {}", kind_of(&other)),
        )),
        Err(e) => Err(Failure::new(
            "invalid",
            format!("outputs are not valid JSON: {e}"),
        )),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// "2s", "1m30s", "250ms": how durations are written in workflows.
pub fn duration(d: Duration) -> String {
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) || ms == 0 {
        return format!("{ms}ms");
    }
    let s = ms / 1000;
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, 0, 0) => format!("{h}h"),
        (h, m, s) => format!("{h}h{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_nodes_bounds_values_and_keys_ignoring_string_contents() {
        assert_eq!(json_nodes(br#"{"a":1}"#), 3);
        assert_eq!(json_nodes(b"[0,0,0]"), 4);
        assert_eq!(json_nodes(br#"{"a":"x,y:[{"}"#), 3);
        assert_eq!(json_nodes(br#"{"a":"\",[{:"}"#), 3);
        assert_eq!(json_nodes(br#"{"a":[{"b":1},{"c":2}]}"#), 9);
    }

    #[test]
    fn an_output_of_many_tiny_values_is_refused_before_it_is_parsed() {
        let limits = StepLimits {
            output: 64 << 20,
            ..Default::default()
        };
        let list = format!("{{\"l\":[0{}]}}", ",0".repeat(MAX_OUTPUT_NODES));
        let err = parse_outputs(&list, &limits).unwrap_err();
        assert_eq!(err.kind, "limit");
        assert!(err.message.contains("JSON values"), "{}", err.message);
        let fine = format!("{{\"l\":[0{}]}}", ",0".repeat(1000));
        assert_eq!(
            parse_outputs(&fine, &limits).unwrap()["l"]
                .as_array()
                .unwrap()
                .len(),
            1001
        );
    }
}
