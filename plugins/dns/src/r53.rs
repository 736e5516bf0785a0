//! The Route 53 lookups and the INSYNC wait both `run` and `destroy` need.

use std::time::Duration;

use runner_plugin::route53::{self, HostedZone, RecordSet};
use runner_plugin::{Error, poll, state};

use crate::names;

/// How often a change's status is read (the sandbox settles in ~300 ms).
const EVERY: Duration = Duration::from_millis(300);
/// The state key of a change not yet seen INSYNC, so a resumed run still waits for it.
pub const PENDING: &str = "change_id";

/// The hosted zone named `domain`, public preferred; `None` when there is none.
pub fn find_zone(domain: &str) -> Result<Option<HostedZone>, Error> {
    // The listing starts at `domain` and runs on: keep exact matches only.
    let zones = route53::list_hosted_zones_by_name(Some(&names::fqdn(domain)))
        .map_err(|e| context(e, &format!("listing hosted zones named `{domain}`")))?;
    let mut matching: Vec<HostedZone> = zones
        .into_iter()
        .filter(|z| names::same(&z.name, domain))
        .collect();
    matching.sort_by_key(|z| z.private_zone);
    Ok(matching.into_iter().next())
}

/// Every record set named `name` in the zone.
pub fn records_at(zone_id: &str, name: &str) -> Result<Vec<RecordSet>, Error> {
    let sets =
        route53::list_resource_record_sets(zone_id, Some(&names::fqdn(name))).map_err(|e| {
            context(
                e,
                &format!("listing records `{name}` in hosted zone {zone_id}"),
            )
        })?;
    Ok(sets
        .into_iter()
        .filter(|r| names::same(&r.name, name))
        .collect())
}

/// The simple (no set identifier) record of that type among `sets`.
pub fn simple(sets: &[RecordSet], rtype: &str) -> Option<RecordSet> {
    sets.iter()
        .find(|r| r.set_identifier.is_none() && r.record_type.eq_ignore_ascii_case(rtype))
        .cloned()
}

/// Refuses what would make an UPSERT of a simple `rtype` record at the name fail.
pub fn check_free(sets: &[RecordSet], zone_id: &str, name: &str, rtype: &str) -> Result<(), Error> {
    for r in sets {
        if r.record_type.eq_ignore_ascii_case("CNAME") {
            return Err(Error::Conflict(format!(
                "`{name}` is a CNAME in hosted zone {zone_id}: a name with a CNAME can hold no \
                 other record; delete the CNAME or pick another `record`"
            )));
        }
        if let (true, Some(id)) = (r.record_type.eq_ignore_ascii_case(rtype), &r.set_identifier) {
            return Err(Error::Conflict(format!(
                "`{name}` {rtype} in hosted zone {zone_id} uses a routing policy (set \
                 identifier `{id}`): this step manages a simple record only; remove those \
                 records or pick another `record`"
            )));
        }
    }
    Ok(())
}

/// Waits until change `id` is INSYNC, then forgets it as pending.
pub fn wait_insync(id: &str, timeout_ms: u64) -> Result<(), Error> {
    let what = format!("Route 53 change {id} to be INSYNC");
    poll::until(&what, Duration::from_millis(timeout_ms), EVERY, || {
        let info =
            route53::get_change(id).map_err(|e| context(e, &format!("reading change {id}")))?;
        Ok(info.status.eq_ignore_ascii_case("INSYNC").then_some(()))
    })?;
    state::delete(PENDING)?;
    Ok(())
}

/// Applies one change of `set` and waits for it, remembering it as pending meanwhile.
pub fn change(
    zone_id: &str,
    action: route53::ChangeAction,
    set: RecordSet,
    timeout_ms: u64,
) -> Result<(), Error> {
    let verb = match action {
        route53::ChangeAction::Create => "CREATE",
        route53::ChangeAction::Delete => "DELETE",
        route53::ChangeAction::Upsert => "UPSERT",
    };
    let what = format!("{verb} `{}` {}", set.name, set.record_type);
    let info = route53::change_resource_record_sets(
        zone_id,
        Some("runner dns step"),
        &[route53::Change {
            action,
            record_set: set,
        }],
    )
    .map_err(|e| context(e, &format!("{what} in hosted zone {zone_id}")))?;
    state::set(PENDING, &info.id)?;
    runner_plugin::info(
        "changed record",
        &[
            ("change", &what),
            ("zone_id", zone_id),
            ("change_id", &info.id),
        ],
    );
    if info.status.eq_ignore_ascii_case("INSYNC") {
        state::delete(PENDING)?;
        return Ok(());
    }
    wait_insync(&info.id, timeout_ms)
}

/// The host's error of the same kind, saying what the step was doing.
pub fn context(e: Error, doing: &str) -> Error {
    runner_plugin::context(doing)(e)
}
