use std::fmt;

use crate::{EndpointGroup, Observation, RegionProbes};

/// Every endpoint group of the observation, listener by listener.
pub fn groups(obs: &Observation) -> impl Iterator<Item = &EndpointGroup> {
    obs.listeners.iter().flat_map(|l| l.endpoint_groups.iter())
}

/// The endpoint groups in `region`: one per listener that has one there. Policies act
/// on regions, so a region's dial is set on each of its groups.
pub fn region_groups<'a>(
    obs: &'a Observation,
    region: &'a str,
) -> impl Iterator<Item = &'a EndpointGroup> + 'a {
    groups(obs).filter(move |g| g.region == region)
}

/// Whether any listener has an endpoint group in `region`.
pub fn has_region(obs: &Observation, region: &str) -> bool {
    region_groups(obs, region).next().is_some()
}

/// The regions that have an endpoint group, each once, in the order first seen.
pub fn regions(obs: &Observation) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for g in groups(obs) {
        if !out.contains(&g.region.as_str()) {
            out.push(&g.region);
        }
    }
    out
}

/// The host's probes of `region` over the recent window, if it probed it.
pub fn probes<'a>(obs: &'a Observation, region: &str) -> Option<&'a RegionProbes> {
    obs.probes.iter().find(|p| p.region == region)
}

/// The current dial of `region`: that of its first group (a policy keeps a region's
/// groups on one dial), or `None` when it has no group.
pub fn region_dial(obs: &Observation, region: &str) -> Option<f32> {
    region_groups(obs, region)
        .next()
        .map(|g| g.traffic_dial_percentage)
}

/// Why a region can or cannot take traffic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Health {
    Healthy,
    /// No listener has an endpoint group in the region.
    NoGroup,
    /// Every endpoint of the region's groups is `UNHEALTHY` (or the groups have no
    /// endpoints at all: nothing there can answer).
    EndpointsDown {
        endpoints: usize,
    },
    /// The host's probes had samples and more than the bound of them failed.
    Errors {
        rate: f32,
        samples: u32,
    },
}

impl Health {
    pub fn is_healthy(self) -> bool {
        self == Health::Healthy
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Health::Healthy => f.write_str("healthy"),
            Health::NoGroup => f.write_str("no endpoint group"),
            Health::EndpointsDown { endpoints: 0 } => f.write_str("no endpoints"),
            Health::EndpointsDown { endpoints } => {
                write!(f, "all {endpoints} endpoint(s) UNHEALTHY")
            }
            Health::Errors { rate, samples } => {
                write!(f, "probe error rate {rate:.2} over {samples} samples")
            }
        }
    }
}

/// The health of `region`: unhealthy when every endpoint of its groups is `UNHEALTHY`
/// (Global Accelerator's own verdict), or when the host's probes had samples and their
/// error rate is above `max_error_rate` (the endpoints may pass GA's health checks and
/// still fail real requests). `INITIAL` endpoints count as not yet down: a freshly
/// registered endpoint is not a reason to move traffic.
pub fn health(obs: &Observation, region: &str, max_error_rate: f32) -> Health {
    let mut any_group = false;
    let mut endpoints = 0usize;
    let mut all_down = true;
    for g in region_groups(obs, region) {
        any_group = true;
        for e in &g.endpoints {
            endpoints += 1;
            all_down &= e.health_state == "UNHEALTHY";
        }
    }
    if !any_group {
        return Health::NoGroup;
    }
    if all_down {
        return Health::EndpointsDown { endpoints };
    }
    match probes(obs, region) {
        Some(p) if p.samples > 0 && p.error_rate > max_error_rate => Health::Errors {
            rate: p.error_rate,
            samples: p.samples,
        },
        _ => Health::Healthy,
    }
}
