//! `assert`: fails the step unless a value matches what the workflow expects.
//!
//! Workflows use it as a gate (a drill's result, a probed status code) so that a
//! wrong value stops dependents instead of flowing on silently.

use runner_plugin::{Description, Error, Guest, Invocation, Recorded};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    actual: Value,
    /// `actual` must equal this; without it (and without `not_expected`) it must be truthy.
    expected: Option<Value>,
    /// `actual` must differ from this.
    not_expected: Option<Value>,
    /// Said when the assertion fails.
    message: Option<String>,
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty() && s != "false",
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Numbers that came through string interpolation compare equal to real numbers.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(s), Value::Number(n)) | (Value::Number(n), Value::String(s)) => {
            s.parse::<f64>().ok() == n.as_f64()
        }
        _ => a == b,
    }
}

fn check(p: &Params) -> Result<(), String> {
    if let Some(expected) = &p.expected
        && !same(&p.actual, expected)
    {
        return Err(format!("expected {expected}, got {}", p.actual));
    }
    if let Some(unwanted) = &p.not_expected
        && same(&p.actual, unwanted)
    {
        return Err(format!("expected anything but {unwanted}"));
    }
    if p.expected.is_none() && p.not_expected.is_none() && !truthy(&p.actual) {
        return Err(format!("expected a true value, got {}", p.actual));
    }
    Ok(())
}

struct Assert;

impl Guest for Assert {
    fn describe(params: String) -> Result<Description, Error> {
        runner_plugin::params::<Params>(&params)?;
        Ok(runner_plugin::no_outputs(
            "fails unless a value matches what is expected",
        ))
    }

    fn run(input: Invocation) -> Result<String, Error> {
        let p: Params = runner_plugin::params(&input.params)?;
        check(&p).map_err(|why| {
            let what = p.message.as_deref().unwrap_or("assertion failed");
            Error::Invalid(format!("{what}: {why}"))
        })?;
        Ok("{}".into())
    }

    fn destroy(_input: Invocation, _recorded: Recorded) -> Result<(), Error> {
        Ok(())
    }
}

runner_plugin::export!(Assert);
