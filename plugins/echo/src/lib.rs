//! `echo`: logs a message and publishes the values it is given as outputs.
//!
//! It is how a workflow names a value once (a computed hostname, a region list) and
//! hands it to later steps, and the simplest honest plugin to copy.

use runner_plugin::{Description, Error, Guest, Invocation, Recorded};
use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    /// Logged at info level.
    message: Option<String>,
    /// Returned as the step's outputs, unchanged.
    #[serde(default)]
    outputs: Map<String, Value>,
}

struct Echo;

impl Guest for Echo {
    fn describe(params: String) -> Result<Description, Error> {
        let p: Params = runner_plugin::params(&params)?;
        Ok(Description {
            outputs: p.outputs.keys().cloned().collect(),
            summary: "logs a message and publishes the given values as outputs".into(),
        })
    }

    fn run(input: Invocation) -> Result<String, Error> {
        let p: Params = runner_plugin::params(&input.params)?;
        if let Some(message) = &p.message {
            runner_plugin::info(message, &[("step", &input.step)]);
        }
        runner_plugin::outputs(&Value::Object(p.outputs))
    }

    fn destroy(_input: Invocation, _recorded: Recorded) -> Result<(), Error> {
        Ok(())
    }
}

runner_plugin::export!(Echo);
