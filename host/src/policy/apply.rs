//! From a decision to calls: each change is checked against the observation (the group
//! must be one the policy was shown) and clamped to the guard rails of the grants
//! (`max_dial_step`, `min_dial`, `max_dial`, `regions`) before anything is sent; then
//! the changes go out through the Global Accelerator capability, which checks the
//! grants again and audits every call.

use runner_workflow::DialGuard;
use serde::Serialize;

use crate::bindings::PluginError;
use crate::bindings::policy::{Decision, Observation};
use crate::bindings::runner::plugin::global_accelerator::{
    EndpointConfiguration, HealthCheck, Host as _, UpdateEndpointGroupInput,
};
use crate::capabilities::StepHost;
use crate::engine::outcome::plugin_failure;

use super::observation::Carried;

/// One group change, after the guard rails.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Planned {
    pub group: String,
    pub region: String,
    /// The dial now, and the dial to set (None: leave it).
    pub from_dial: f32,
    pub dial: Option<f32>,
    /// (endpoint, weight now, weight to set).
    pub weights: Vec<(String, u8, u8)>,
    /// Why the change differs from what the policy asked (clamped), if it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Filled in by `apply`: None before, then `ok` or the error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

/// What a decision comes to: the changes to send and what was refused outright.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Plan {
    pub changes: Vec<Planned>,
    pub refused: Vec<String>,
}

/// Checks and clamps `decision` against what `observation` showed and `guard` allows.
/// Changes that would change nothing are dropped.
pub fn plan(decision: &Decision, observation: &Observation, guard: &DialGuard) -> Plan {
    let mut plan = Plan::default();
    let groups: Vec<_> = observation
        .listeners
        .iter()
        .flat_map(|l| &l.endpoint_groups)
        .collect();
    for change in &decision.changes {
        let Some(group) = groups.iter().find(|g| g.arn == change.endpoint_group_arn) else {
            plan.refused.push(format!(
                "endpoint group `{}` is not one of the accelerator's; ignored",
                change.endpoint_group_arn
            ));
            continue;
        };
        if !guard.regions.is_empty() && !guard.regions.contains(&group.region) {
            plan.refused.push(format!(
                "the guard rails allow changing only {}; the change to `{}` was refused",
                guard.regions.join(", "),
                group.region
            ));
            continue;
        }
        let from = group.traffic_dial_percentage;
        let mut note = None;
        let dial = change.traffic_dial_percentage.and_then(|asked| {
            let dial = guard.clamp(from, asked);
            if dial != asked {
                note = Some(format!(
                    "asked for dial {asked}, clamped to {dial} by the guard rails"
                ));
            }
            (dial != from).then_some(dial)
        });
        let mut weights = Vec::new();
        for w in &change.weights {
            match group
                .endpoints
                .iter()
                .find(|e| e.endpoint_id == w.endpoint_id)
            {
                Some(e) if e.weight != w.weight => {
                    weights.push((w.endpoint_id.clone(), e.weight, w.weight))
                }
                Some(_) => {}
                None => plan.refused.push(format!(
                    "endpoint `{}` is not in the endpoint group in {}; its weight was ignored",
                    w.endpoint_id, group.region
                )),
            }
        }
        if dial.is_none() && weights.is_empty() {
            if let Some(note) = note {
                plan.refused.push(format!("{}: {note}", group.region));
            }
            continue;
        }
        plan.changes.push(Planned {
            group: group.arn.clone(),
            region: group.region.clone(),
            from_dial: from,
            dial,
            weights,
            note,
            outcome: None,
        });
    }
    plan
}

/// Sends the plan's changes through the capability, one UpdateEndpointGroup each, and
/// notes each outcome. Weights need the group's full endpoint list (the API replaces
/// it), so a weight change reads the group first to keep every other setting.
pub async fn apply(host: &mut StepHost, plan: &mut Plan, carried: &mut Carried) {
    for change in &mut plan.changes {
        let result = send(host, change).await;
        change.outcome = Some(match result {
            Ok(()) => {
                carried.take(change);
                "ok".into()
            }
            Err(e) => {
                let f = plugin_failure(e);
                format!("{}: {}", f.kind, f.message)
            }
        });
    }
}

async fn send(host: &mut StepHost, change: &Planned) -> Result<(), PluginError> {
    let trap = |e: wasmtime::Error| PluginError::Internal(format!("{e:#}"));
    let endpoints = if change.weights.is_empty() {
        None
    } else {
        let group = host
            .describe_endpoint_group(change.group.clone())
            .await
            .map_err(trap)??;
        Some(
            group
                .endpoints
                .iter()
                .map(|e| EndpointConfiguration {
                    endpoint_id: e.endpoint_id.clone(),
                    weight: Some(
                        change
                            .weights
                            .iter()
                            .find(|(id, _, _)| *id == e.endpoint_id)
                            .map_or(e.weight, |(_, _, w)| *w),
                    ),
                    client_ip_preservation_enabled: Some(e.client_ip_preservation_enabled),
                })
                .collect(),
        )
    };
    let input = UpdateEndpointGroupInput {
        endpoint_group_arn: change.group.clone(),
        endpoints,
        traffic_dial_percentage: change.dial,
        health_check: HealthCheck {
            protocol: None,
            port: None,
            path: None,
            interval_seconds: None,
            threshold_count: None,
        },
    };
    host.update_endpoint_group(input).await.map_err(trap)??;
    Ok(())
}

/// Applies a plan to the offline state only (the harness: nothing is sent).
pub fn carry(plan: &mut Plan, carried: &mut Carried) {
    for change in &mut plan.changes {
        carried.take(change);
        change.outcome = Some("simulated".into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::policy::{
        Endpoint, EndpointGroup, EndpointWeight, GroupChange, Listener, PortRange,
    };

    fn observation() -> Observation {
        let group = |arn: &str, region: &str, dial: f32| EndpointGroup {
            arn: arn.into(),
            region: region.into(),
            traffic_dial_percentage: dial,
            endpoints: vec![Endpoint {
                endpoint_id: format!("alb-{region}"),
                weight: 128,
                health_state: "HEALTHY".into(),
            }],
            health_check_interval_seconds: 10,
            threshold_count: 3,
        };
        Observation {
            time_ms: 0,
            tick: 1,
            accelerator_arn: "a".into(),
            accelerator_name: "n".into(),
            listeners: vec![Listener {
                arn: "l".into(),
                protocol: "TCP".into(),
                port_ranges: vec![PortRange {
                    from_port: 80,
                    to_port: 80,
                }],
                endpoint_groups: vec![
                    group("g1", "us-east-1", 100.0),
                    group("g2", "us-east-2", 0.0),
                ],
            }],
            probes: vec![],
            params: "{}".into(),
            memory: None,
        }
    }

    fn change(arn: &str, dial: Option<f32>, weights: &[(&str, u8)]) -> GroupChange {
        GroupChange {
            endpoint_group_arn: arn.into(),
            traffic_dial_percentage: dial,
            weights: weights
                .iter()
                .map(|(id, w)| EndpointWeight {
                    endpoint_id: id.to_string(),
                    weight: *w,
                })
                .collect(),
        }
    }

    fn decision(changes: Vec<GroupChange>) -> Decision {
        Decision {
            changes,
            reason: "test".into(),
            memory: None,
        }
    }

    #[test]
    fn dials_are_clamped_to_the_guard_rails_and_no_ops_dropped() {
        let guard = DialGuard {
            max_step: Some(25.0),
            min: Some(10.0),
            ..Default::default()
        };
        let d = decision(vec![
            change("g1", Some(0.0), &[]),
            change("g2", Some(250.0), &[]),
        ]);
        let plan = plan(&d, &observation(), &guard);
        let dials: Vec<_> = plan
            .changes
            .iter()
            .map(|c| (c.group.as_str(), c.dial))
            .collect();
        assert_eq!(dials, [("g1", Some(75.0)), ("g2", Some(25.0))]);
        assert!(plan.changes.iter().all(|c| c.note.is_some()));
        // Already at the rail: asking to go further changes nothing and says why.
        let mut obs = observation();
        obs.listeners[0].endpoint_groups[0].traffic_dial_percentage = 10.0;
        let plan = super::plan(&decision(vec![change("g1", Some(0.0), &[])]), &obs, &guard);
        assert!(plan.changes.is_empty());
        assert_eq!(plan.refused.len(), 1, "{plan:?}");
    }

    #[test]
    fn unknown_groups_endpoints_and_regions_outside_the_rails_are_refused() {
        let guard = DialGuard {
            regions: vec!["us-east-2".into()],
            ..Default::default()
        };
        let d = decision(vec![
            change("elsewhere", Some(50.0), &[]),
            change("g1", Some(50.0), &[]),
            change("g2", Some(f32::NAN), &[("alb-us-east-2", 255), ("nope", 1)]),
        ]);
        let plan = plan(&d, &observation(), &guard);
        assert_eq!(plan.refused.len(), 3, "{plan:?}");
        assert_eq!(plan.changes.len(), 1);
        let only = &plan.changes[0];
        assert_eq!(
            (only.group.as_str(), only.dial, only.weights.clone()),
            ("g2", None, vec![("alb-us-east-2".to_string(), 128, 255)])
        );
    }
}
