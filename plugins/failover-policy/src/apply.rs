//! `run`: plans every group's dial, weights and health check first (so a bad region or
//! endpoint fails before anything changes), then updates only the groups that differ.

use std::fmt::Display;

use runner_plugin::global_accelerator::{
    self as ga, EndpointConfiguration, EndpointGroup, UpdateEndpointGroupInput,
};
use runner_plugin::{Error, Invocation, info, poll};
use serde_json::{Map, Value, json};

use crate::params::{Params, Weights, invalid};

/// Keeps a host error's kind (and so its retry behaviour), adding what was being done.
fn ctx(what: impl Display) -> impl FnOnce(Error) -> Error {
    runner_plugin::context(format!("failover-policy: {what}"))
}

pub fn run(input: &Invocation) -> Result<String, Error> {
    let p: Params = runner_plugin::params(&input.params)?;
    p.check()?;
    let listener = pick_listener(&p)?;
    let groups = ga::list_endpoint_groups(&listener)
        .map_err(ctx(format!("listing endpoint groups of {listener}")))?;
    for (region, why) in p.named_regions() {
        if !groups.iter().any(|g| g.region == region) {
            let have: Vec<&str> = groups.iter().map(|g| g.region.as_str()).collect();
            return Err(invalid(format!(
                "region `{region}` ({why}) has no endpoint group on {listener} (groups: {}); add it to the accelerator step first",
                if have.is_empty() {
                    "none".into()
                } else {
                    have.join(", ")
                }
            )));
        }
    }
    let plans = groups
        .iter()
        .map(|g| plan(&p, g))
        .collect::<Result<Vec<_>, Error>>()?;
    let mut changed = false;
    let mut policy = Map::new();
    for (g, update) in groups.iter().zip(plans) {
        let applied = match update {
            Some(u) => {
                let dial = u
                    .traffic_dial_percentage
                    .unwrap_or(g.traffic_dial_percentage);
                let out = ga::update_endpoint_group(&u).map_err(ctx(format!(
                    "updating endpoint group {} ({})",
                    g.arn, g.region
                )))?;
                info(
                    "updated endpoint group",
                    &[
                        ("region", &g.region),
                        ("arn", &g.arn),
                        ("traffic_dial", &dial.to_string()),
                    ],
                );
                changed = true;
                out
            }
            None => g.clone(),
        };
        policy.insert(applied.region.clone(), describe(&applied));
    }
    if changed {
        poll::accelerator_deployed(&p.accelerator_arn, p.timeout_ms).map_err(ctx("waiting"))?;
    }
    runner_plugin::outputs(&json!({
        "mode": p.mode.as_str(),
        "listener_arn": listener,
        "policy": policy,
        "change": if changed { "updated" } else { "unchanged" },
    }))
}

fn pick_listener(p: &Params) -> Result<String, Error> {
    let arn = &p.accelerator_arn;
    let listeners = ga::list_listeners(arn).map_err(ctx(format!("listing listeners of {arn}")))?;
    if let Some(want) = &p.listener_arn {
        return match listeners.iter().any(|l| &l.arn == want) {
            true => Ok(want.clone()),
            false => Err(invalid(format!(
                "listener_arn {want} is not a listener of {arn}"
            ))),
        };
    }
    match listeners.as_slice() {
        [one] => Ok(one.arn.clone()),
        [] => Err(invalid(format!(
            "accelerator {arn} has no listener; converge it with the accelerator step first"
        ))),
        many => Err(invalid(format!(
            "accelerator {arn} has {} listeners; set `listener_arn` to one of {}",
            many.len(),
            many.iter()
                .map(|l| l.arn.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// The update that applies the policy to `g`, or `None` when it already holds.
fn plan(p: &Params, g: &EndpointGroup) -> Result<Option<UpdateEndpointGroupInput>, Error> {
    let want_dial = p.dial(&g.region);
    let dial = (want_dial - g.traffic_dial_percentage).abs() > 0.001;
    let weights = match p.weights.get(&g.region) {
        None => None,
        Some(w) => new_weights(w, g)?,
    };
    let health = p.health_check.differs(g);
    Ok(
        (dial || weights.is_some() || health).then(|| UpdateEndpointGroupInput {
            endpoint_group_arn: g.arn.clone(),
            endpoints: weights,
            traffic_dial_percentage: dial.then_some(want_dial),
            health_check: p.health_check.to_wit(),
        }),
    )
}

/// The group's whole endpoint list with the declared weights (an update replaces the
/// list, so endpoints keep their other settings), or `None` when no weight changes.
fn new_weights(
    w: &Weights,
    g: &EndpointGroup,
) -> Result<Option<Vec<EndpointConfiguration>>, Error> {
    if let Weights::Each(table) = w
        && let Some(id) = table
            .keys()
            .find(|id| !g.endpoints.iter().any(|e| &e.endpoint_id == *id))
    {
        return Err(invalid(format!(
            "weights.{}: endpoint `{id}` is not in the group ({})",
            g.region, g.arn
        )));
    }
    let want = |id: &str, have: u8| match w {
        Weights::All(n) => *n,
        Weights::Each(t) => t.get(id).copied().unwrap_or(have),
    };
    if g.endpoints
        .iter()
        .all(|e| want(&e.endpoint_id, e.weight) == e.weight)
    {
        return Ok(None);
    }
    Ok(Some(
        g.endpoints
            .iter()
            .map(|e| EndpointConfiguration {
                endpoint_id: e.endpoint_id.clone(),
                weight: Some(want(&e.endpoint_id, e.weight)),
                client_ip_preservation_enabled: Some(e.client_ip_preservation_enabled),
            })
            .collect(),
    ))
}

fn describe(g: &EndpointGroup) -> Value {
    let endpoints: Vec<Value> = g
        .endpoints
        .iter()
        .map(|e| json!({"id": e.endpoint_id, "weight": e.weight}))
        .collect();
    json!({
        "arn": g.arn,
        "traffic_dial": g.traffic_dial_percentage,
        "endpoints": endpoints,
        "health_check": {
            "protocol": g.health_check_protocol,
            "port": g.health_check_port,
            "path": g.health_check_path,
            "interval_seconds": g.health_check_interval_seconds,
            "threshold_count": g.threshold_count,
        },
    })
}
