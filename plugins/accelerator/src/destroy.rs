//! `destroy`: tears the accelerator down in the only order AWS accepts (groups,
//! listeners, disable, wait for DEPLOYED, delete). Anything already gone counts as done,
//! so a destroy interrupted at any point can simply be run again.

use std::time::Duration;

use runner_plugin::global_accelerator as ga;
use runner_plugin::{Error, Invocation, Recorded, info, poll, state};
use serde::Deserialize;

use crate::util::{ctx, find_by_name, gone_ok, wait_deployed};

/// Lenient on purpose: a destroy must still work from recorded state when the
/// parameters no longer parse as `run` wants them.
#[derive(Deserialize, Default)]
struct Loose {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    timeout_ms: Option<u64>,
}

pub fn destroy(input: &Invocation, recorded: &Recorded) -> Result<(), Error> {
    let p: Loose = serde_json::from_str(&input.params).unwrap_or_default();
    let timeout_ms = p.timeout_ms.unwrap_or(300_000);
    let recorded_arn = recorded
        .state
        .iter()
        .find(|(k, _)| k == "accelerator_arn")
        .map(|(_, v)| v.clone());
    let arn = match (recorded_arn, &p.name) {
        (Some(arn), _) => arn,
        (None, Some(name)) => match find_by_name(name)? {
            Some(a) => a.arn,
            None => {
                info("no accelerator to destroy", &[("name", name)]);
                return Ok(());
            }
        },
        (None, None) => {
            info(
                "no accelerator recorded and no name given: nothing to destroy",
                &[],
            );
            return Ok(());
        }
    };
    teardown(&arn, timeout_ms)?;
    for key in state::keys() {
        state::delete(&key)?;
    }
    Ok(())
}

fn teardown(arn: &str, timeout_ms: u64) -> Result<(), Error> {
    let Some(listeners) =
        gone_ok(ga::list_listeners(arn)).map_err(ctx(format!("listing listeners of {arn}")))?
    else {
        info("accelerator already gone", &[("arn", arn)]);
        return Ok(());
    };
    for l in &listeners {
        let groups = gone_ok(ga::list_endpoint_groups(&l.arn))
            .map_err(ctx(format!("listing endpoint groups of {}", l.arn)))?
            .unwrap_or_default();
        for g in &groups {
            if gone_ok(ga::delete_endpoint_group(&g.arn))
                .map_err(ctx(format!("deleting endpoint group {}", g.arn)))?
                .is_some()
            {
                info(
                    "deleted endpoint group",
                    &[("region", &g.region), ("arn", &g.arn)],
                );
            }
        }
        if gone_ok(ga::delete_listener(&l.arn))
            .map_err(ctx(format!("deleting listener {}", l.arn)))?
            .is_some()
        {
            info("deleted listener", &[("arn", &l.arn)]);
        }
    }
    let Some(acc) =
        gone_ok(ga::describe_accelerator(arn)).map_err(ctx(format!("describing {arn}")))?
    else {
        return Ok(());
    };
    if acc.enabled {
        ga::update_accelerator(arn, None, Some(false)).map_err(ctx(format!("disabling {arn}")))?;
        info("disabled accelerator", &[("arn", arn)]);
    }
    match wait_deployed(arn, timeout_ms) {
        Err(Error::NotFound(_)) => return Ok(()),
        r => r?,
    };
    // Real AWS may still refuse for a moment after reporting DEPLOYED (the AWS Load
    // Balancer Controller retries this too), so a conflict is retried until the deadline.
    let mut last = String::new();
    poll::until(
        &format!("deleting accelerator {arn}"),
        Duration::from_millis(timeout_ms),
        Duration::from_millis(300),
        || match ga::delete_accelerator(arn) {
            Ok(()) => {
                info("deleted accelerator", &[("arn", arn)]);
                Ok(Some(()))
            }
            Err(Error::NotFound(_)) => Ok(Some(())),
            Err(Error::Conflict(m)) => {
                last = m;
                Ok(None)
            }
            Err(e) => Err(ctx(format!("deleting {arn}"))(e)),
        },
    )
    .map_err(|e| match e {
        Error::Timeout(m) => Error::Timeout(format!("accelerator: {m}; AWS still says: {last}")),
        e => e,
    })
}
