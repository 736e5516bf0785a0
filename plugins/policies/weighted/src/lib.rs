//! `weighted`: holds endpoint groups at fixed traffic dials and endpoints at fixed
//! weights, whatever happens to them: it puts back a dial someone moved by hand.
//!
//! # Params
//!
//! - `dials` (object, required): region → traffic dial (number 0–100) for every group
//!   of that region. Each region must have an endpoint group in the observation.
//!   Regions not listed are left alone. `{}` manages weights only.
//! - `weights` (object, optional): endpoint id → weight (whole number 0–255), in every
//!   group that has that endpoint. Each endpoint must be in the observation. Endpoints
//!   not listed are left alone.
//!
//! # Decisions
//!
//! Only the dials and weights that differ from the observation are changed, so a
//! converged state yields no changes. The policy does not look at health: Global
//! Accelerator already routes around unhealthy endpoints within the dials.
//!
//! # Memory
//!
//! `{"converged_since": tick}`: the first tick of the current run of observations that
//! already matched the configuration (null while changes are still being asked for), so
//! the reason can say for how long the configuration has held.

use runner_policy::observe;
use runner_policy::{Changes, Decision, Error, Guest, Observation, Params, dial, weight};
use serde::{Deserialize, Serialize};

const NAME: &str = "weighted";

#[derive(Default, Serialize, Deserialize)]
struct Memory {
    converged_since: Option<u64>,
}

struct Weighted;

impl Guest for Weighted {
    fn decide(obs: Observation) -> Result<Decision, Error> {
        let mut p = Params::parse(NAME, &obs.params)?;
        let dials = p
            .entries("dials", dial)?
            .ok_or_else(|| p.error("dials", "is required"))?;
        let weights = p.entries("weights", weight)?.unwrap_or_default();
        for (region, _) in &dials {
            if !observe::has_region(&obs, region) {
                return Err(p.error(
                    &format!("dials.{region}"),
                    "no endpoint group in this region",
                ));
            }
        }
        for (id, _) in &weights {
            let known =
                observe::groups(&obs).any(|g| g.endpoints.iter().any(|e| &e.endpoint_id == id));
            if !known {
                return Err(p.error(&format!("weights.{id}"), "no endpoint with this id"));
            }
        }
        p.finish()?;

        let mut changes = Changes::new();
        for (region, target) in &dials {
            for g in observe::region_groups(&obs, region) {
                changes.dial(g, *target);
            }
        }
        if !weights.is_empty() {
            for g in observe::groups(&obs) {
                for e in &g.endpoints {
                    if let Some((_, w)) = weights.iter().find(|(id, _)| *id == e.endpoint_id) {
                        changes.weight(g, e, *w);
                    }
                }
            }
        }

        let mut memory: Memory = runner_policy::load(NAME, obs.memory.as_deref());
        let reason = if changes.is_empty() {
            let since = *memory.converged_since.get_or_insert(obs.tick);
            format!(
                "{} dial(s) and {} weight(s) as configured since tick {since}",
                dials.len(),
                weights.len()
            )
        } else {
            memory.converged_since = None;
            format!(
                "setting {} dial(s) and {} weight(s) to the configured values",
                changes.dial_count(),
                changes.weight_count()
            )
        };
        Ok(runner_policy::decision(
            changes,
            reason,
            runner_policy::save(&memory)?,
        ))
    }
}

runner_policy::export!(Weighted);

#[cfg(test)]
mod tests {
    use super::*;
    use runner_policy::replay;

    #[test]
    fn converges_and_then_holds() {
        replay::check(
            Weighted::decide,
            include_str!("../../../../tests/policies/fixed-weights.ndjson"),
            include_str!("../../../../tests/policies/fixed-weights.expected"),
        );
    }

    #[test]
    fn sets_weights_and_names_bad_fields() {
        let lines = include_str!("../../../../tests/policies/fixed-weights.ndjson");
        let params = r#"{"dials":{},"weights":{"arn:aws:elasticloadbalancing:us-west-2:000000000000:loadbalancer/app/b/2":7}}"#;
        let ticks = replay::replay(Weighted::decide, lines, params).unwrap();
        assert_eq!(ticks[0].decision.changes.len(), 1);
        assert_eq!(ticks[0].decision.changes[0].weights[0].weight, 7);
        assert!(
            ticks[1].decision.changes.is_empty(),
            "weights carried forward"
        );

        let bad = replay::replay(Weighted::decide, lines, r#"{"dials":{"eu-west-9":50}}"#);
        assert!(bad.unwrap_err().contains("field `dials.eu-west-9`"));
        let bad = replay::replay(Weighted::decide, lines, r#"{"dials":{"us-east-1":101}}"#);
        assert!(bad.unwrap_err().contains("field `dials.us-east-1`"));
        let bad = replay::replay(Weighted::decide, lines, r#"{}"#);
        assert!(bad.unwrap_err().contains("field `dials`: is required"));
    }
}
