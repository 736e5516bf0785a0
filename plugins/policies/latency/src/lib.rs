//! `latency`: moves traffic away from a region whose probes are slow (or failing), a
//! limited step per observation, and back to its baseline, a step at a time, once it has
//! been good for a while. Limited steps keep one bad window from emptying a region, and
//! let the remaining regions take the load gradually.
//!
//! # Params
//!
//! - `bound_ms` (number above 0, at most 3,600,000, required): the p95 latency bound,
//!   in milliseconds.
//! - `step` (number, more than 0 and at most 100, default 10): how many percentage
//!   points a region's dial moves per observation, down or up.
//! - `min_dial` (number 0–100, default 0): a slow region's dial goes no lower.
//! - `baseline` (object, optional): region → the dial (number from `min_dial` to 100) a
//!   region returns to when good; regions not listed return to 100. Each region listed
//!   must have an endpoint group in the observation.
//! - `recover_after` (whole number ≥ 1, default 3): consecutive good observations of a
//!   region before its dial starts stepping back up.
//!
//! # Decisions
//!
//! Each region is judged on its probes in the observation's window:
//!
//! - *slow*: it had samples and its p95 is above `bound_ms`, or more than half of the
//!   samples failed. Each of its groups loses `step` dial, down to `min_dial`. Its good
//!   streak restarts.
//! - *good*: it had samples and is neither. Its good streak grows; from `recover_after`
//!   on, each of its groups moves `step` toward the baseline (usually up).
//! - *unjudged*: no samples. Nothing changes, not even the streak: no evidence either way.
//!
//! A slow region is only stepped down while at least one region is good: when all are
//! slow there is nowhere better to send the traffic, so the dials are held (fail open).
//! Only dials that differ from the observation are changed: a converged state yields no
//! changes.
//!
//! # Memory
//!
//! `{"good": {"us-east-1": 2, ...}}`: each region's consecutive good observations.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use runner_policy::observe;
use runner_policy::{Changes, Decision, Error, Guest, Observation, Params, dial, positive, whole};
use serde::{Deserialize, Serialize};

const NAME: &str = "latency";

/// Above this probe error rate a region is slow whatever its latency (failed probes
/// have no latency, so a region failing most requests can show a low p95).
const MAX_ERROR_RATE: f32 = 0.5;

/// The largest `bound_ms` taken: an hour. Anything near it is a typo (seconds for
/// milliseconds the other way round), not a latency bound.
const MAX_BOUND_MS: f64 = 3_600_000.0;

struct Settings {
    bound_ms: f32,
    step: f32,
    min_dial: f32,
    baseline: Vec<(String, f32)>,
    recover_after: u32,
}

impl Settings {
    fn parse(obs: &Observation) -> Result<Self, Error> {
        let mut p = Params::parse(NAME, &obs.params)?;
        let bound_ms = p.required("bound_ms", positive(MAX_BOUND_MS))? as f32;
        let step = p.optional("step", 10.0, positive(100.0))? as f32;
        let min_dial = p.optional("min_dial", 0.0, dial)?;
        let baseline = p.entries("baseline", dial)?.unwrap_or_default();
        let recover_after = p.optional("recover_after", 3, whole(1, u32::MAX.into()))? as u32;
        for (region, value) in &baseline {
            let field = format!("baseline.{region}");
            if !observe::has_region(obs, region) {
                return Err(p.error(&field, "no endpoint group in this region"));
            }
            if *value < min_dial {
                return Err(p.error(&field, format!("{value} is below `min_dial` {min_dial}")));
            }
        }
        p.finish()?;
        Ok(Settings {
            bound_ms,
            step,
            min_dial,
            baseline,
            recover_after,
        })
    }

    fn baseline(&self, region: &str) -> f32 {
        self.baseline
            .iter()
            .find(|(r, _)| r == region)
            .map_or(100.0, |(_, d)| *d)
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Verdict {
    Slow { p95: f32, error_rate: f32 },
    Good,
    Unjudged,
}

#[derive(Default, Serialize, Deserialize)]
struct Memory {
    good: BTreeMap<String, u32>,
}

struct Latency;

impl Guest for Latency {
    fn decide(obs: Observation) -> Result<Decision, Error> {
        let s = Settings::parse(&obs)?;
        let mut memory: Memory = runner_policy::load(NAME, obs.memory.as_deref());
        let regions = observe::regions(&obs);
        let verdicts: Vec<Verdict> = regions
            .iter()
            .map(|r| match observe::probes(&obs, r) {
                Some(p) if p.samples > 0 => {
                    if p.p95_ms > s.bound_ms || p.error_rate > MAX_ERROR_RATE {
                        Verdict::Slow {
                            p95: p.p95_ms,
                            error_rate: p.error_rate,
                        }
                    } else {
                        Verdict::Good
                    }
                }
                _ => Verdict::Unjudged,
            })
            .collect();
        let somewhere_good = verdicts.contains(&Verdict::Good);

        let mut changes = Changes::new();
        let mut reason = String::new();
        for (region, verdict) in regions.iter().zip(&verdicts) {
            let region: &str = region;
            let current = observe::region_dial(&obs, region).unwrap_or(0.0);
            if !memory.good.contains_key(region) {
                memory.good.insert(region.to_string(), 0);
            }
            let streak = memory.good.get_mut(region).expect("inserted above");
            match verdict {
                Verdict::Slow { .. } => *streak = 0,
                Verdict::Good => *streak = streak.saturating_add(1),
                Verdict::Unjudged => {}
            }
            let streak = *streak;
            let target = |dial: f32| -> Option<f32> {
                match verdict {
                    Verdict::Slow { .. } if somewhere_good && dial > s.min_dial => {
                        Some((dial - s.step).max(s.min_dial))
                    }
                    Verdict::Good if streak >= s.recover_after => {
                        let base = s.baseline(region);
                        if dial < base {
                            Some((dial + s.step).min(base))
                        } else if dial > base {
                            Some((dial - s.step).max(base))
                        } else {
                            None
                        }
                    }
                    _ => None,
                }
            };
            let mut moved = false;
            for g in observe::region_groups(&obs, region) {
                if let Some(t) = target(g.traffic_dial_percentage) {
                    moved |= changes.dial(g, t);
                }
            }
            let after = target(current).unwrap_or(current);
            match verdict {
                Verdict::Slow { p95, error_rate } => {
                    let why = if *error_rate > MAX_ERROR_RATE {
                        format!("error rate {error_rate:.2}")
                    } else {
                        format!("p95 {p95} ms > {} ms", s.bound_ms)
                    };
                    if moved {
                        note(
                            &mut reason,
                            format_args!("{region} slow ({why}): {current} -> {after}"),
                        );
                    } else if !somewhere_good {
                        note(
                            &mut reason,
                            format_args!("{region} slow ({why}) but no region is good: holding"),
                        );
                    } else {
                        note(
                            &mut reason,
                            format_args!("{region} slow ({why}): at min_dial {}", s.min_dial),
                        );
                    }
                }
                Verdict::Good if moved => {
                    note(
                        &mut reason,
                        format_args!(
                            "{region} good for {streak} observations: {current} -> {after}"
                        ),
                    );
                }
                Verdict::Good if current != s.baseline(region) => note(
                    &mut reason,
                    format_args!(
                        "{region} good for {streak} of {} before recovering",
                        s.recover_after
                    ),
                ),
                Verdict::Good => {}
                Verdict::Unjudged => note(
                    &mut reason,
                    format_args!("{region} has no probe samples: holding"),
                ),
            }
        }
        if reason.is_empty() {
            let _ = write!(
                reason,
                "all {} region(s) within p95 {} ms at their baseline",
                regions.len(),
                s.bound_ms
            );
        }
        Ok(runner_policy::decision(
            changes,
            reason,
            runner_policy::save(&memory)?,
        ))
    }
}

/// Appends one region's part of the reason.
fn note(reason: &mut String, args: std::fmt::Arguments) {
    if !reason.is_empty() {
        reason.push_str("; ");
    }
    let _ = reason.write_fmt(args);
}

runner_policy::export!(Latency);

#[cfg(test)]
mod tests {
    use super::*;
    use runner_policy::replay;

    #[test]
    fn slow_region_steps_down_and_back() {
        replay::check(
            Latency::decide,
            include_str!("../../../../tests/policies/slow-region.ndjson"),
            include_str!("../../../../tests/policies/slow-region.expected"),
        );
    }

    #[test]
    fn params_errors_name_the_field() {
        let lines = include_str!("../../../../tests/policies/slow-region.ndjson");
        for (params, field) in [
            (r#"{}"#, "field `bound_ms`"),
            (r#"{"bound_ms":100,"step":0}"#, "field `step`"),
            (
                r#"{"bound_ms":100,"baseline":{"us-east-1":"x"}}"#,
                "field `baseline.us-east-1`",
            ),
            (
                r#"{"bound_ms":100,"min_dial":50,"baseline":{"us-east-1":20}}"#,
                "field `baseline.us-east-1`",
            ),
            (
                r#"{"bound_ms":100,"recover_afer":2}"#,
                "unknown field `recover_afer`",
            ),
        ] {
            let e = replay::replay(Latency::decide, lines, params).unwrap_err();
            assert!(e.contains(field), "{params}: {e}");
        }
    }

    #[test]
    fn holds_every_dial_when_no_region_is_good() {
        let lines = include_str!("../../../../tests/policies/slow-region.ndjson");
        // Both regions are over a 10 ms bound (us-west-2 is at 30 ms) on every tick.
        let ticks = replay::replay(Latency::decide, lines, r#"{"bound_ms":10}"#).unwrap();
        for t in &ticks {
            assert!(
                t.decision.changes.is_empty(),
                "tick {}: {:?}",
                t.tick,
                t.decision.changes
            );
            assert!(
                t.decision.reason.contains("holding"),
                "{}",
                t.decision.reason
            );
        }
    }
}
