//! `failover-policy`: applies a routing mode to an accelerator's endpoint groups —
//! active-failover (primary dial 100, every other group 0: GA ignores dials when it fails
//! over to a healthy group) or active-active (per-region dials and weights).

mod apply;
mod params;

use runner_plugin::{Description, Error, Guest, Invocation, Recorded};
use serde_json::Value;

struct FailoverPolicy;

impl Guest for FailoverPolicy {
    fn describe(params: String) -> Result<Description, Error> {
        let v: Value = runner_plugin::params(&params)?;
        let bad = |m: String| Err(Error::Invalid(format!("failover-policy: {m}")));
        for key in ["accelerator_arn", "mode"] {
            if v.get(key).is_none() {
                return bad(format!("`{key}` is required"));
            }
        }
        match v["mode"].as_str().filter(|m| !m.contains("${")) {
            Some("active-failover") => {
                for key in ["primary", "standby"] {
                    if v.get(key).is_none() {
                        return bad(format!("mode active-failover needs `{key}`"));
                    }
                }
            }
            Some("active-active") | None => {}
            Some(m) => {
                return bad(format!(
                    "mode `{m}`: expected active-failover or active-active"
                ));
            }
        }
        Ok(Description {
            outputs: ["mode", "listener_arn", "policy", "change"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            summary: "applies active-failover or active-active routing to an accelerator".into(),
        })
    }

    fn run(input: Invocation) -> Result<String, Error> {
        apply::run(&input)
    }

    /// The groups belong to the accelerator step, which deletes them; dials are not
    /// worth restoring on the way out.
    fn destroy(_input: Invocation, _recorded: Recorded) -> Result<(), Error> {
        Ok(())
    }
}

runner_plugin::export!(FailoverPolicy);
