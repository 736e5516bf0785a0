//! `dns`: points a Route 53 alias record (by default an `A` alias into Global
//! Accelerator's zone) at a target DNS name and waits for INSYNC, so a custom domain
//! reaches the accelerator. Destroy deletes exactly that one record.

mod names;
mod params;
mod r53;

use runner_plugin::route53::{AliasTarget, ChangeAction, RecordSet};
use runner_plugin::{Description, Error, Guest, Invocation, Recorded, state};
use serde_json::json;

use params::Params;

/// State keys: what destroy needs even when the workflow's parameters changed since.
const ZONE_ID: &str = "zone_id";
const ZONE: &str = "zone";
const RECORD: &str = "record";
const RECORD_TYPE: &str = "record_type";
const ALIAS: &str = "alias";

struct Dns;

impl Guest for Dns {
    fn describe(params: String) -> Result<Description, Error> {
        params::check_shape(&params)?;
        Ok(Description {
            outputs: ["zone_id", "zone", "record", "target", "change"]
                .map(String::from)
                .to_vec(),
            summary: "points a Route 53 alias record at a target and waits for INSYNC".into(),
        })
    }

    fn run(input: Invocation) -> Result<String, Error> {
        let p = Params::parse(&input.params)?;
        let zone = r53::find_zone(&p.zone)?.ok_or_else(|| no_zone(&p.zone))?;
        runner_plugin::remember(ZONE_ID, &zone.id)?;
        runner_plugin::remember(ZONE, &zone.name)?;

        let want = AliasTarget {
            hosted_zone_id: p.alias_zone_id.clone(),
            dns_name: p.target.clone(),
            evaluate_target_health: p.evaluate_target_health,
        };
        let sets = r53::records_at(&zone.id, &p.record)?;
        r53::check_free(&sets, &zone.id, &p.record, &p.record_type)?;
        let existing = r53::simple(&sets, &p.record_type);
        let (record, change) = match existing {
            Some(r)
                if r.alias_target
                    .as_ref()
                    .is_some_and(|a| same_alias(a, &want)) =>
            {
                // A run that crashed while waiting left its change pending: finish the wait.
                if let Some(id) = state::get(r53::PENDING) {
                    r53::wait_insync(&id, p.timeout_ms)?;
                }
                (r.name, "unchanged")
            }
            existing => {
                let name = names::fqdn(&p.record);
                runner_plugin::remember(RECORD, &name)?;
                runner_plugin::remember(RECORD_TYPE, &p.record_type)?;
                runner_plugin::remember(ALIAS, &encode(&want)?)?;
                let change = match &existing {
                    None => "created",
                    Some(old) => {
                        let from = describe_set(old);
                        runner_plugin::info(
                            "replacing record",
                            &[("record", &name), ("from", &from)],
                        );
                        "updated"
                    }
                };
                let set = RecordSet {
                    name: name.clone(),
                    record_type: p.record_type.clone(),
                    ttl: None,
                    values: Vec::new(),
                    alias_target: Some(want),
                    set_identifier: None,
                };
                r53::change(&zone.id, ChangeAction::Upsert, set, p.timeout_ms)?;
                runner_plugin::info(
                    &format!("{change} alias record"),
                    &[
                        ("record", &name),
                        ("target", &p.target),
                        ("zone_id", &zone.id),
                    ],
                );
                (name, change)
            }
        };
        runner_plugin::outputs(&json!({
            "zone_id": zone.id,
            "zone": zone.name,
            "record": record,
            "target": p.target,
            "change": change,
        }))
    }

    fn destroy(input: Invocation, recorded: Recorded) -> Result<(), Error> {
        let saved = |k: &str| {
            recorded
                .state
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
                .or_else(|| state::get(k))
        };
        // Parameters only fill what the state lacks (a step that never got far).
        let p = Params::parse(&input.params);
        let from_params = |what: &str| match &p {
            Ok(p) => Ok(p),
            Err(e) => Err(Error::Invalid(format!(
                "no recorded {what} and the parameters do not give it: {}",
                message(e)
            ))),
        };
        let timeout_ms = p.as_ref().map_or(120_000, |p| p.timeout_ms);
        let zone_id = match saved(ZONE_ID) {
            Some(id) => id,
            None => match r53::find_zone(&from_params("hosted zone")?.zone)? {
                Some(z) => z.id,
                None => return Ok(()),
            },
        };
        let name = match saved(RECORD) {
            Some(n) => n,
            None => names::fqdn(&from_params("record")?.record),
        };
        let rtype = match saved(RECORD_TYPE) {
            Some(t) => t,
            None => from_params("record type")?.record_type.clone(),
        };
        let current = match r53::records_at(&zone_id, &name).map(|s| r53::simple(&s, &rtype)) {
            Ok(Some(r)) => r,
            Ok(None) | Err(Error::NotFound(_)) => {
                runner_plugin::info(
                    "record already gone",
                    &[("record", &name), ("zone_id", &zone_id)],
                );
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let written = saved(ALIAS).and_then(|a| serde_json::from_str::<AliasTarget>(&a).ok());
        let ours = match (&current.alias_target, &written) {
            (Some(now), Some(then)) => same_alias(now, then),
            _ => written.is_none(),
        };
        if !ours {
            runner_plugin::warn(
                "record changed since this step wrote it; deleting it as it is now",
                &[("record", &name), ("now", &describe_set(&current))],
            );
        }
        // A DELETE must match the record exactly: send it back as Route 53 listed it.
        r53::change(&zone_id, ChangeAction::Delete, current, timeout_ms).or_else(|e| match e {
            Error::NotFound(_) => Ok(()),
            e => Err(e),
        })?;
        runner_plugin::info(
            "deleted alias record",
            &[("record", &name), ("zone_id", &zone_id)],
        );
        Ok(())
    }
}

fn same_alias(a: &AliasTarget, b: &AliasTarget) -> bool {
    a.hosted_zone_id.eq_ignore_ascii_case(&b.hosted_zone_id)
        && names::same(&a.dns_name, &b.dns_name)
        && a.evaluate_target_health == b.evaluate_target_health
}

fn no_zone(domain: &str) -> Error {
    let d = names::norm(domain);
    Error::NotFound(format!(
        "no hosted zone `{d}` in Route 53 (or the step's grants.route53 zones do not name it): \
         create it (aws route53 create-hosted-zone --name {d} --caller-reference <unique>), \
         grant it, or pass the domain you own (--var domain=...)"
    ))
}

/// One line for the journal: the alias target or the values of a record.
fn describe_set(r: &RecordSet) -> String {
    match &r.alias_target {
        Some(a) => format!(
            "alias {} in {} (evaluate_target_health {})",
            a.dns_name, a.hosted_zone_id, a.evaluate_target_health
        ),
        None => format!("values [{}] ttl {:?}", r.values.join(", "), r.ttl),
    }
}

fn encode(a: &AliasTarget) -> Result<String, Error> {
    serde_json::to_string(a).map_err(|e| Error::Internal(format!("encoding alias: {e}")))
}

fn message(e: &Error) -> &str {
    match e {
        Error::Denied(m)
        | Error::NotFound(m)
        | Error::Conflict(m)
        | Error::Invalid(m)
        | Error::Throttled(m)
        | Error::Unavailable(m)
        | Error::Timeout(m)
        | Error::Internal(m) => m,
    }
}

runner_plugin::export!(Dns);
