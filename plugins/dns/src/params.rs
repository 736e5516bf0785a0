//! The step's `with` table: typed for `run`/`destroy`, shape-checked for `describe`
//! (where values may still be `${...}` references).

use runner_plugin::Error;
use serde::Deserialize;
use serde_json::Value;

use crate::names;

/// Global Accelerator's canonical hosted zone, the alias zone of every accelerator.
pub const GA_ZONE_ID: &str = "Z2BJ6XQ5FK7U4H";
const KEYS: [&str; 7] = [
    "zone",
    "record",
    "target",
    "alias_zone_id",
    "record_type",
    "evaluate_target_health",
    "timeout_ms",
];
const REQUIRED: [&str; 3] = ["zone", "record", "target"];
const TYPES: [&str; 2] = ["A", "AAAA"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// The hosted zone's domain, e.g. `example.com`.
    pub zone: String,
    /// The record's full name, inside `zone`.
    pub record: String,
    /// The DNS name the alias points at (the accelerator's).
    pub target: String,
    #[serde(default = "ga_zone")]
    pub alias_zone_id: String,
    #[serde(default = "a")]
    pub record_type: String,
    #[serde(default)]
    pub evaluate_target_health: bool,
    #[serde(default = "two_minutes")]
    pub timeout_ms: u64,
}

fn ga_zone() -> String {
    GA_ZONE_ID.into()
}
fn a() -> String {
    "A".into()
}
fn two_minutes() -> u64 {
    120_000
}

impl Params {
    /// Parses and checks the interpolated parameters; record type comes back upper case.
    pub fn parse(json: &str) -> Result<Params, Error> {
        let mut p: Params = runner_plugin::params(json)?;
        p.record_type = p.record_type.trim().to_ascii_uppercase();
        p.alias_zone_id = p.alias_zone_id.trim().to_string();
        p.target = p.target.trim().to_string();
        for (key, value) in [
            ("zone", &p.zone),
            ("record", &p.record),
            ("target", &p.target),
            ("alias_zone_id", &p.alias_zone_id),
        ] {
            if names::norm(value).is_empty() {
                return Err(Error::Invalid(format!("`{key}` must not be empty")));
            }
        }
        if p.target.contains(char::is_whitespace) {
            return Err(Error::Invalid(format!(
                "`target` `{}` is not a DNS name",
                p.target
            )));
        }
        check_type(&p.record_type)?;
        check_inside(&p.record, &p.zone)?;
        Ok(p)
    }
}

/// The checks that hold whatever the references resolve to.
pub fn check_shape(json: &str) -> Result<(), Error> {
    let v: Value = runner_plugin::params(json)?;
    let Some(table) = v.as_object() else {
        return Err(Error::Invalid("`with` must be a table".into()));
    };
    if let Some(k) = table.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(Error::Invalid(format!(
            "unknown parameter `{k}` (expected one of {})",
            KEYS.join(", ")
        )));
    }
    if let Some(k) = REQUIRED.iter().find(|k| !table.contains_key(**k)) {
        return Err(Error::Invalid(format!("`{k}` is required")));
    }
    let literal = |k: &str| {
        table
            .get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.contains("${"))
    };
    if let Some(t) = literal("record_type") {
        check_type(&t.trim().to_ascii_uppercase())?;
    }
    if let (Some(record), Some(zone)) = (literal("record"), literal("zone")) {
        check_inside(record, zone)?;
    }
    Ok(())
}

fn check_type(t: &str) -> Result<(), Error> {
    if TYPES.contains(&t) {
        return Ok(());
    }
    Err(Error::Invalid(format!(
        "`record_type` `{t}` is not supported: an alias to an accelerator is `A` or `AAAA`"
    )))
}

fn check_inside(record: &str, zone: &str) -> Result<(), Error> {
    if names::inside(record, zone) {
        return Ok(());
    }
    Err(Error::Invalid(format!(
        "`record` `{record}` is not inside the zone `{zone}`: name a record ending in `.{}`",
        names::norm(zone)
    )))
}
