//! `active-failover`: all traffic to a primary region (dial 100, the standby 0); to the
//! standby when the primary is unhealthy; back to the primary only once it has been
//! healthy for a while, so a flapping primary does not drag traffic back and forth.
//!
//! # Params
//!
//! - `primary` (string, required): the region that takes the traffic when healthy.
//! - `standby` (string, required): the region that takes it when the primary is not.
//!   Both must have an endpoint group in the observation, and must differ.
//! - `healthy_observations` (whole number ≥ 1, default 3): fail back to the primary
//!   only after this many *consecutive* healthy observations of it (hysteresis).
//! - `unhealthy_observations` (whole number ≥ 1, default 1): fail over only after this
//!   many consecutive unhealthy observations of the primary.
//! - `max_error_rate` (number 0–1, default 0.5): a region whose probes had samples and
//!   failed more than this is unhealthy, as is one whose endpoints are all `UNHEALTHY`.
//!
//! # Decisions
//!
//! The active region's groups get dial 100 and the other region's 0; groups of any
//! other region are left alone. Only dials that differ are changed, so a converged
//! state yields no changes.
//!
//! - It fails over only to a healthy standby: when both are unhealthy it *fails open*,
//!   leaving every dial as it is (and says so), rather than sending traffic to a region
//!   no better than the one it would leave.
//! - While on the standby, if the standby turns unhealthy and the primary is healthy, it
//!   fails back at once without waiting out `healthy_observations`: hysteresis guards
//!   against a flaky primary, not in favour of a dead standby.
//! - On the first tick (no memory) the active region is the one with the higher dial,
//!   so a restarted loop that finds traffic on the standby does not fail back before
//!   the primary has proved itself.
//!
//! # Memory
//!
//! `{"active": "primary"|"standby", "healthy_streak": n, "unhealthy_streak": n}`: the
//! active side and the primary's consecutive healthy and unhealthy observations.

use runner_policy::observe;
use runner_policy::{Changes, Decision, Error, Guest, Observation, Params, number, text, whole};
use serde::{Deserialize, Serialize};

const NAME: &str = "active-failover";

struct Settings {
    primary: String,
    standby: String,
    healthy_observations: u32,
    unhealthy_observations: u32,
    max_error_rate: f32,
}

impl Settings {
    fn parse(obs: &Observation) -> Result<Self, Error> {
        let mut p = Params::parse(NAME, &obs.params)?;
        let primary = p.required("primary", text)?;
        let standby = p.required("standby", text)?;
        let healthy_observations =
            p.optional("healthy_observations", 3, whole(1, u32::MAX.into()))? as u32;
        let unhealthy_observations =
            p.optional("unhealthy_observations", 1, whole(1, u32::MAX.into()))? as u32;
        let max_error_rate = p.optional("max_error_rate", 0.5, number(0.0, 1.0))? as f32;
        if primary == standby {
            return Err(p.error("standby", format!("is the primary `{primary}` too")));
        }
        for (field, region) in [("primary", &primary), ("standby", &standby)] {
            if !observe::has_region(obs, region) {
                return Err(p.error(field, format!("no endpoint group in region `{region}`")));
            }
        }
        p.finish()?;
        Ok(Settings {
            primary,
            standby,
            healthy_observations,
            unhealthy_observations,
            max_error_rate,
        })
    }
}

#[derive(Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Side {
    Primary,
    Standby,
}

#[derive(Default, Serialize, Deserialize)]
struct Memory {
    active: Option<Side>,
    healthy_streak: u32,
    unhealthy_streak: u32,
}

struct ActiveFailover;

impl Guest for ActiveFailover {
    fn decide(obs: Observation) -> Result<Decision, Error> {
        let s = Settings::parse(&obs)?;
        let mut memory: Memory = runner_policy::load(NAME, obs.memory.as_deref());
        let primary = observe::health(&obs, &s.primary, s.max_error_rate);
        let standby = observe::health(&obs, &s.standby, s.max_error_rate);
        if primary.is_healthy() {
            memory.healthy_streak = memory.healthy_streak.saturating_add(1);
            memory.unhealthy_streak = 0;
        } else {
            memory.unhealthy_streak = memory.unhealthy_streak.saturating_add(1);
            memory.healthy_streak = 0;
        }
        let active = memory.active.unwrap_or_else(|| {
            let dial = |r: &str| observe::region_dial(&obs, r).unwrap_or(0.0);
            if dial(&s.standby) > dial(&s.primary) {
                Side::Standby
            } else {
                Side::Primary
            }
        });
        memory.active = Some(active);
        let (p, b) = (&s.primary, &s.standby);
        let next = match active {
            Side::Primary if primary.is_healthy() => {
                Ok((Side::Primary, format!("{p} active and healthy")))
            }
            Side::Primary if memory.unhealthy_streak < s.unhealthy_observations => Ok((
                Side::Primary,
                format!(
                    "{p} {primary} for {} of the {} observations needed to fail over",
                    memory.unhealthy_streak, s.unhealthy_observations
                ),
            )),
            Side::Primary if standby.is_healthy() => Ok((
                Side::Standby,
                format!(
                    "failing over to {b}: {p} {primary} for {} observation(s)",
                    memory.unhealthy_streak
                ),
            )),
            Side::Primary => Err(format!(
                "{p} {primary} but standby {b} {standby} too: failing open, leaving the dials as they are"
            )),
            Side::Standby
                if primary.is_healthy() && memory.healthy_streak >= s.healthy_observations =>
            {
                Ok((
                    Side::Primary,
                    format!(
                        "failing back to {p}: healthy for {} consecutive observations",
                        memory.healthy_streak
                    ),
                ))
            }
            Side::Standby if primary.is_healthy() && !standby.is_healthy() => Ok((
                Side::Primary,
                format!("failing back to {p} early: it is healthy and standby {b} {standby}"),
            )),
            Side::Standby if primary.is_healthy() => Ok((
                Side::Standby,
                format!(
                    "{b} active: {p} healthy for {} of the {} consecutive observations needed to fail back",
                    memory.healthy_streak, s.healthy_observations
                ),
            )),
            Side::Standby if standby.is_healthy() => {
                Ok((Side::Standby, format!("{b} active: {p} {primary}")))
            }
            Side::Standby => Err(format!(
                "standby {b} {standby} and {p} {primary} too: failing open, leaving the dials as they are"
            )),
        };
        let mut changes = Changes::new();
        let reason = match next {
            Ok((side, reason)) => {
                memory.active = Some(side);
                let (on, off) = match side {
                    Side::Primary => (p, b),
                    Side::Standby => (b, p),
                };
                for g in observe::region_groups(&obs, on) {
                    changes.dial(g, 100.0);
                }
                for g in observe::region_groups(&obs, off) {
                    changes.dial(g, 0.0);
                }
                reason
            }
            Err(fail_open) => fail_open,
        };
        Ok(runner_policy::decision(
            changes,
            reason,
            runner_policy::save(&memory)?,
        ))
    }
}

runner_policy::export!(ActiveFailover);

#[cfg(test)]
mod tests {
    use super::*;
    use runner_policy::replay;
    use runner_policy::serde_json::json;

    #[test]
    fn flapping_primary_does_not_fail_back_early() {
        replay::check(
            ActiveFailover::decide,
            include_str!("../../../../tests/policies/flapping.ndjson"),
            include_str!("../../../../tests/policies/flapping.expected"),
        );
    }

    #[test]
    fn recovery_fails_back_after_the_healthy_streak() {
        replay::check(
            ActiveFailover::decide,
            include_str!("../../../../tests/policies/recovery.ndjson"),
            include_str!("../../../../tests/policies/recovery.expected"),
        );
    }

    #[test]
    fn a_restarted_loop_on_the_standby_does_not_fail_back_at_once() {
        // Every tick of the flapping scenario, but found with traffic on the standby.
        let lines = include_str!("../../../../tests/policies/flapping.ndjson")
            .replace(
                r#""traffic_dial_percentage":100.0"#,
                r#""traffic_dial_percentage":"x""#,
            )
            .replace(
                r#""traffic_dial_percentage":0.0"#,
                r#""traffic_dial_percentage":100.0"#,
            )
            .replace(
                r#""traffic_dial_percentage":"x""#,
                r#""traffic_dial_percentage":0.0"#,
            );
        let params = r#"{"primary":"us-east-1","standby":"us-west-2"}"#;
        let ticks = replay::replay(ActiveFailover::decide, &lines, params).unwrap();
        assert_eq!(ticks[0].dials, "1 us-east-1=0 us-west-2=100");
        assert!(ticks[0].decision.changes.is_empty());
    }

    /// One observation line: (region, dial, endpoint health, probe error rate) per region.
    fn line(tick: u64, regions: &[(&str, f32, &str, f32)]) -> String {
        let groups: Vec<_> = regions
            .iter()
            .map(|(r, dial, health, _)| {
                json!({"arn": format!("g-{r}"), "region": r, "traffic_dial_percentage": dial,
                    "endpoints": [{"endpoint_id": format!("e-{r}"), "weight": 128, "health_state": health}],
                    "health_check_interval_seconds": 10, "threshold_count": 3})
            })
            .collect();
        let probes: Vec<_> = regions
            .iter()
            .map(|(r, _, _, rate)| {
                json!({"region": r, "samples": 4, "errors": (rate * 4.0) as u32, "error_rate": rate,
                    "p50_ms": 2.0, "p95_ms": 3.0, "max_ms": 3.0})
            })
            .collect();
        json!({"time_ms": tick * 10_000, "tick": tick, "accelerator_arn": "a", "accelerator_name": "a",
            "listeners": [{"arn": "l", "protocol": "TCP", "port_ranges": [], "endpoint_groups": groups}],
            "probes": probes})
        .to_string()
    }

    #[test]
    fn a_dead_standby_brings_traffic_back_to_a_healthy_primary_at_once() {
        let lines = [
            line(
                1,
                &[
                    ("east", 100.0, "UNHEALTHY", 1.0),
                    ("west", 0.0, "HEALTHY", 0.0),
                ],
            ),
            line(
                2,
                &[
                    ("east", 100.0, "HEALTHY", 0.0),
                    ("west", 0.0, "UNHEALTHY", 1.0),
                ],
            ),
            // A third region is never touched.
            line(
                3,
                &[
                    ("east", 100.0, "HEALTHY", 0.0),
                    ("west", 0.0, "HEALTHY", 0.0),
                    ("north", 42.0, "HEALTHY", 0.0),
                ],
            ),
        ]
        .join("\n");
        let params = r#"{"primary":"east","standby":"west","healthy_observations":5}"#;
        let ticks = replay::replay(ActiveFailover::decide, &lines, params).unwrap();
        assert_eq!(ticks[0].dials, "1 east=0 west=100");
        assert_eq!(
            ticks[1].dials, "2 east=100 west=0",
            "{}",
            ticks[1].decision.reason
        );
        assert!(ticks[1].decision.reason.contains("early"));
        assert_eq!(ticks[2].dials, "3 east=100 west=0 north=42");
        assert!(ticks[2].decision.changes.is_empty());
    }

    #[test]
    fn params_errors_name_the_field() {
        let lines = include_str!("../../../../tests/policies/flapping.ndjson");
        for (params, field) in [
            (r#"{"standby":"us-west-2"}"#, "field `primary`: is required"),
            (
                r#"{"primary":"eu-west-9","standby":"us-west-2"}"#,
                "field `primary`: no endpoint group",
            ),
            (
                r#"{"primary":"us-east-1","standby":"us-east-1"}"#,
                "field `standby`",
            ),
            (
                r#"{"primary":"us-east-1","standby":"us-west-2","healthy_observations":0}"#,
                "field `healthy_observations`",
            ),
            (
                r#"{"primary":"us-east-1","standby":"us-west-2","max_error_rate":2}"#,
                "field `max_error_rate`",
            ),
            (
                r#"{"primary":"us-east-1","standby":"us-west-2","healthy":3}"#,
                "unknown field `healthy`",
            ),
        ] {
            let e = replay::replay(ActiveFailover::decide, lines, params).unwrap_err();
            assert!(e.contains(field), "{params}: {e}");
        }
    }
}
