//! A routing policy for runner: fail over only after N bad observations.
//!
//! runner calls `decide` once per observation (every few seconds under `runner watch`,
//! or once per line of a recorded file under `runner policy test`). The observation
//! holds the accelerator's endpoint groups with their dials, weights and health, and
//! the host's probes of each region; the decision says which dials and weights to
//! change, and why. The policy cannot reach the cloud: the host acts on the decision,
//! within the guard rails of the policy's grants.
//!
//! This one moves traffic away from a region only once it has been bad for `after`
//! observations in a row, so that a single failed probe window moves nothing.
//!
//! Params (the policy's `with` table):
//! - `after` (whole number ≥ 1, default 3): consecutive bad observations before a region
//!   loses its traffic. A region is bad when every one of its endpoints is `UNHEALTHY`
//!   or more than half of the host's probes of it failed.
//!
//! When a region has been bad for `after` observations its groups get dial 0 and the
//! best other region (healthy now, lowest p95) gets 100. It never fails back by itself:
//! once a region is good again the dials stay where they are. Failing back deserves its
//! own care (see the `active-failover` built-in's hysteresis); add it to `decide`.

// The generated bindings' helpers that lift an observation take many arguments.
#![allow(clippy::too_many_arguments)]

// The bindings of the `routing-policy` world, from the WIT files in `wit/`: the
// `Guest` trait to implement, the `Observation`, `Decision` and `Error` types, and the
// `export!` macro.
wit_bindgen::generate!({ world: "routing-policy", path: "wit" });

use runner::plugin::routing::{EndpointGroup, GroupChange};
use serde_json::{Map, Value, json};

struct MyPolicy;

impl Guest for MyPolicy {
    fn decide(obs: Observation) -> Result<Decision, Error> {
        let after = after(&obs.params)?;

        // A policy keeps no state of its own: what it needs from earlier observations
        // travels in `memory`, which it returns with each decision and gets back with
        // the next observation (none on the first). Here: each region's bad streak.
        let memory: Value = obs
            .memory
            .as_deref()
            .and_then(|m| serde_json::from_str(m).ok())
            .unwrap_or(Value::Null);
        let mut streaks = Map::new();
        let mut failed = Vec::new();
        let mut worst: Option<(&str, u64)> = None;
        for region in regions(&obs) {
            let streak = if is_bad(&obs, region) {
                memory["streaks"][region].as_u64().unwrap_or(0) + 1
            } else {
                0
            };
            if streak >= after {
                failed.push((region, streak));
            } else if streak > worst.map_or(0, |(_, n)| n) {
                worst = Some((region, streak));
            }
            streaks.insert(region.to_string(), streak.into());
        }

        let mut changes = Vec::new();
        let reason = match failed.first() {
            None => match worst {
                Some((region, streak)) => {
                    format!(
                        "{region} bad for {streak} of the {after} observations needed to fail over"
                    )
                }
                None => "every region is good".to_string(),
            },
            Some(&(region, streak)) => match best_region(&obs, &failed) {
                // Moving traffic to a region that is no better helps no one: leave the
                // dials as they are (fail open) and say why.
                None => format!(
                    "{region} bad for {streak} observations, but no other region is healthy: leaving the dials as they are"
                ),
                Some(best) => {
                    for group in groups(&obs) {
                        if failed.iter().any(|(r, _)| *r == group.region) {
                            set_dial(&mut changes, group, 0.0);
                        } else if group.region == best {
                            set_dial(&mut changes, group, 100.0);
                        }
                    }
                    format!("{region} bad for {streak} observations: traffic to {best}")
                }
            },
        };

        Ok(Decision {
            // Only what differs from the observation: an empty list changes nothing.
            changes,
            // One line, logged and audited with every change the host applies.
            reason,
            memory: Some(json!({ "streaks": streaks }).to_string()),
        })
    }
}

export!(MyPolicy);

/// The `after` param. Errors name the field: the host shows them as they are.
fn after(params: &str) -> Result<u64, Error> {
    let params: Value = serde_json::from_str(params)
        .map_err(|e| Error::Invalid(format!("params are not JSON: {e}")))?;
    match params.get("after") {
        None | Some(Value::Null) => Ok(3),
        Some(v) => v.as_u64().filter(|n| *n >= 1).ok_or_else(|| {
            Error::Invalid(format!(
                "field `after`: expected a whole number ≥ 1, got {v}"
            ))
        }),
    }
}

/// Every endpoint group, listener by listener.
fn groups(obs: &Observation) -> impl Iterator<Item = &EndpointGroup> {
    obs.listeners.iter().flat_map(|l| l.endpoint_groups.iter())
}

/// The regions that have an endpoint group, each once.
fn regions(obs: &Observation) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for g in groups(obs) {
        if !out.contains(&g.region.as_str()) {
            out.push(&g.region);
        }
    }
    out
}

/// Bad: every endpoint of the region is `UNHEALTHY` (Global Accelerator's verdict), or
/// the host's probes had samples and more than half of them failed.
fn is_bad(obs: &Observation, region: &str) -> bool {
    let mut endpoints = groups(obs)
        .filter(|g| g.region == region)
        .flat_map(|g| g.endpoints.iter())
        .peekable();
    let all_unhealthy =
        endpoints.peek().is_some() && endpoints.all(|e| e.health_state == "UNHEALTHY");
    let failing = obs
        .probes
        .iter()
        .any(|p| p.region == region && p.samples > 0 && p.error_rate > 0.5);
    all_unhealthy || failing
}

/// The region to send traffic to: not failed, not bad now, lowest p95 of its probes.
fn best_region<'a>(obs: &'a Observation, failed: &[(&str, u64)]) -> Option<&'a str> {
    let p95 = |region: &str| {
        obs.probes
            .iter()
            .find(|p| p.region == region && p.samples > 0)
            .map_or(f32::MAX, |p| p.p95_ms)
    };
    regions(obs)
        .into_iter()
        .filter(|r| !failed.iter().any(|(f, _)| f == r) && !is_bad(obs, r))
        .min_by(|a, b| p95(a).total_cmp(&p95(b)))
}

/// Adds a dial change for `group` unless it is already at `dial`.
fn set_dial(changes: &mut Vec<GroupChange>, group: &EndpointGroup, dial: f32) {
    if group.traffic_dial_percentage != dial {
        changes.push(GroupChange {
            endpoint_group_arn: group.arn.clone(),
            traffic_dial_percentage: Some(dial),
            weights: Vec::new(),
        });
    }
}
