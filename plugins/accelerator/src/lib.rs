//! `accelerator`: converges an AWS Global Accelerator (found by name, never duplicated),
//! its one listener and one endpoint group per region, and waits until it is DEPLOYED.
//! `destroy` removes it all in the order AWS requires.

mod converge;
mod destroy;
mod params;
mod util;

use runner_plugin::{Description, Error, Guest, Invocation, Recorded};
use serde_json::Value;

const OUTPUTS: &[&str] = &[
    "accelerator_arn",
    "name",
    "dns_name",
    "ip_addresses",
    "listener_arn",
    "endpoint_groups",
    "change",
];

/// A literal string (not a `${...}` reference), for checks at validation time.
fn literal(v: &Value) -> Option<&str> {
    v.as_str().filter(|s| !s.contains("${"))
}

struct Accelerator;

impl Guest for Accelerator {
    fn describe(params: String) -> Result<Description, Error> {
        let v: Value = runner_plugin::params(&params)?;
        let bad = |m: &str| Err(Error::Invalid(format!("accelerator: {m}")));
        for key in ["name", "listener", "endpoint_groups"] {
            if v.get(key).is_none() {
                return bad(&format!("`{key}` is required"));
            }
        }
        if let Some(p) = v.pointer("/listener/protocol").and_then(literal)
            && p != "TCP"
            && p != "UDP"
        {
            return bad(&format!("listener.protocol `{p}`: expected TCP or UDP"));
        }
        if v.pointer("/listener/ports").is_none() && v["listener"].is_object() {
            return bad("listener.ports is required");
        }
        if let Some(t) = v.get("ip_address_type").and_then(literal)
            && t != "IPV4"
            && t != "DUAL_STACK"
        {
            return bad(&format!(
                "ip_address_type `{t}`: expected IPV4 or DUAL_STACK"
            ));
        }
        Ok(Description {
            outputs: OUTPUTS.iter().map(|s| s.to_string()).collect(),
            summary: "converges a Global Accelerator, its listener and endpoint groups".into(),
        })
    }

    fn run(input: Invocation) -> Result<String, Error> {
        converge::run(&input)
    }

    fn destroy(input: Invocation, recorded: Recorded) -> Result<(), Error> {
        destroy::destroy(&input, &recorded)
    }
}

runner_plugin::export!(Accelerator);
