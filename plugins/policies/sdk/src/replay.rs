//! Offline replay of recorded observations (`tests/policies/*.ndjson`) through a
//! policy's `decide`, natively, the way `runner policy test` runs them through the
//! component: `params` come from the caller, each decision's `memory` is handed to the
//! next observation, and each decision's dials and weights are carried forward into the
//! following observations (so a recorded scenario need not anticipate the policy).
//!
//! A scenario's `.expected` file holds a header of `#` comments, one of which is
//! `# params: {...}`, then one line per tick: the tick and the dial of each region after
//! that tick's decision, in the order the regions first appear:
//! `3 us-east-1=0 us-west-2=100`.

use std::collections::HashMap;

use crate::observe;
use crate::{Decision, Error, Observation};

/// One tick of a replay: the decision and the dials it left, as an `.expected` line.
#[derive(Debug)]
pub struct Tick {
    pub tick: u64,
    pub decision: Decision,
    pub dials: String,
}

/// Runs `decide` over every observation of `ndjson` with `params`.
pub fn replay(
    decide: impl Fn(Observation) -> Result<Decision, Error>,
    ndjson: &str,
    params: &str,
) -> Result<Vec<Tick>, String> {
    let mut dials: HashMap<String, f32> = HashMap::new();
    let mut weights: HashMap<(String, String), u8> = HashMap::new();
    let mut memory: Option<String> = None;
    let mut out = Vec::new();
    for (n, line) in ndjson.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mut value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("line {}: {e}", n + 1))?;
        value["params"] = params.into();
        value["memory"] = memory.clone().into();
        let mut obs: Observation =
            serde_json::from_value(value).map_err(|e| format!("line {}: {e}", n + 1))?;
        for l in &mut obs.listeners {
            for g in &mut l.endpoint_groups {
                if let Some(d) = dials.get(&g.arn) {
                    g.traffic_dial_percentage = *d;
                }
                for e in &mut g.endpoints {
                    if let Some(w) = weights.get(&(g.arn.clone(), e.endpoint_id.clone())) {
                        e.weight = *w;
                    }
                }
            }
        }
        let tick = obs.tick;
        let before = obs.clone();
        let decision = decide(obs).map_err(|e| format!("tick {tick}: {e:?}"))?;
        for c in &decision.changes {
            if let Some(d) = c.traffic_dial_percentage {
                dials.insert(c.endpoint_group_arn.clone(), d);
            }
            for w in &c.weights {
                weights.insert(
                    (c.endpoint_group_arn.clone(), w.endpoint_id.clone()),
                    w.weight,
                );
            }
        }
        let mut line = tick.to_string();
        for region in observe::regions(&before) {
            let group = observe::region_groups(&before, region).next().unwrap();
            let dial = dials
                .get(&group.arn)
                .copied()
                .unwrap_or(group.traffic_dial_percentage);
            line.push_str(&format!(" {region}={dial}"));
        }
        memory = decision.memory.clone();
        out.push(Tick {
            tick,
            decision,
            dials: line,
        });
    }
    Ok(out)
}

/// Replays `ndjson` with the params of `expected`'s header and asserts that every tick
/// leaves the dials `expected` lists, that every decision has a one-line reason, and
/// that a decision repeating the previous dials asks for no changes.
pub fn check(
    decide: impl Fn(Observation) -> Result<Decision, Error>,
    ndjson: &str,
    expected: &str,
) {
    let params = expected
        .lines()
        .find_map(|l| l.strip_prefix("# params:"))
        .expect("the .expected file has a `# params:` header")
        .trim();
    let want: Vec<&str> = expected
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect();
    let ticks = replay(decide, ndjson, params).unwrap();
    let got: Vec<&str> = ticks.iter().map(|t| t.dials.as_str()).collect();
    let report: String = ticks
        .iter()
        .map(|t| format!("{}  # {}\n", t.dials, t.decision.reason))
        .collect();
    assert_eq!(got, want, "dials per tick differ; the replay:\n{report}");
    let mut previous: Option<&str> = None;
    for t in &ticks {
        assert!(
            !t.decision.reason.is_empty() && !t.decision.reason.contains('\n'),
            "tick {}: reason must be one line: {:?}",
            t.tick,
            t.decision.reason
        );
        let unchanged = previous
            .map(|p| p.split_once(' ').map(|x| x.1) == t.dials.split_once(' ').map(|x| x.1))
            .unwrap_or(false);
        if unchanged {
            assert!(
                t.decision.changes.is_empty(),
                "tick {}: nothing moved, yet the decision has changes: {:?}",
                t.tick,
                t.decision.changes
            );
        }
        previous = Some(&t.dials);
    }
}
