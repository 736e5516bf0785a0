//! Taking an observation live: the accelerator (found by name), its listeners and
//! endpoint groups with health, dials and weights, and HTTP probes of every endpoint,
//! all through the capabilities (so the `[policy.grants]` bound what the loop reads,
//! and every call is audited). Probe results are kept over a window of ticks so the
//! policy sees percentiles, not one noisy sample.

use std::collections::{BTreeMap, HashMap, VecDeque};

use runner_workflow::PolicyProbe;

use crate::bindings::PluginError;
use crate::bindings::policy::{
    Endpoint, EndpointGroup, Listener, Observation, PortRange, RegionProbes,
};
use crate::bindings::runner::plugin::elbv2::Host as _;
use crate::bindings::runner::plugin::global_accelerator::Host as _;
use crate::bindings::runner::plugin::probe::{Host as _, Method, Request};
use crate::capabilities::StepHost;
use crate::events::now_ms;

/// One probe: its latency in ms, or None when it failed (no answer, 5xx).
type Sample = Option<f32>;

/// What the loop keeps between observations.
pub struct Observer {
    accelerator: String,
    probe: PolicyProbe,
    arn: Option<String>,
    /// Endpoint id -> DNS name to probe (None: not a load balancer, not probed).
    dns: HashMap<String, Option<String>>,
    /// Region -> the last `window` ticks' samples.
    window: BTreeMap<String, VecDeque<Vec<Sample>>>,
}

fn trap(e: wasmtime::Error) -> PluginError {
    PluginError::Internal(format!("{e:#}"))
}

/// The region inside an ELBv2 ARN (`arn:aws:elasticloadbalancing:REGION:...`).
fn elb_region(arn: &str) -> Option<&str> {
    let rest = arn.strip_prefix("arn:aws:elasticloadbalancing:")?;
    rest.split(':').next().filter(|r| !r.is_empty())
}

impl Observer {
    pub fn new(accelerator: String, probe: PolicyProbe) -> Self {
        Self {
            accelerator,
            probe,
            arn: None,
            dns: HashMap::new(),
            window: BTreeMap::new(),
        }
    }

    /// One observation for tick `tick`, with `params` and `memory` for the policy.
    pub async fn observe(
        &mut self,
        host: &mut StepHost,
        tick: u64,
        params: &str,
        memory: Option<String>,
    ) -> Result<Observation, PluginError> {
        let arn = self.accelerator_arn(host).await?;
        let mut listeners = Vec::new();
        for l in host.list_listeners(arn.clone()).await.map_err(trap)?? {
            let groups = host
                .list_endpoint_groups(l.arn.clone())
                .await
                .map_err(trap)??;
            listeners.push(Listener {
                arn: l.arn,
                protocol: l.protocol,
                port_ranges: l
                    .port_ranges
                    .iter()
                    .map(|p| PortRange {
                        from_port: p.from_port,
                        to_port: p.to_port,
                    })
                    .collect(),
                endpoint_groups: groups
                    .into_iter()
                    .map(|g| EndpointGroup {
                        arn: g.arn,
                        region: g.region,
                        traffic_dial_percentage: g.traffic_dial_percentage,
                        endpoints: g
                            .endpoints
                            .into_iter()
                            .map(|e| Endpoint {
                                endpoint_id: e.endpoint_id,
                                weight: e.weight,
                                health_state: e.health_state,
                            })
                            .collect(),
                        health_check_interval_seconds: g.health_check_interval_seconds,
                        threshold_count: g.threshold_count,
                    })
                    .collect(),
            });
        }
        let probes = if self.probe.enabled {
            self.probe_all(host, &listeners).await?
        } else {
            Vec::new()
        };
        Ok(Observation {
            time_ms: now_ms(),
            tick,
            accelerator_arn: arn,
            accelerator_name: self.accelerator.clone(),
            listeners,
            probes,
            params: params.to_string(),
            memory,
        })
    }

    async fn accelerator_arn(&mut self, host: &mut StepHost) -> Result<String, PluginError> {
        if let Some(arn) = &self.arn {
            return Ok(arn.clone());
        }
        let all = host.list_accelerators().await.map_err(trap)??;
        let found: Vec<_> = all.iter().filter(|a| a.name == self.accelerator).collect();
        match found.as_slice() {
            [one] => {
                self.arn = Some(one.arn.clone());
                Ok(one.arn.clone())
            }
            [] => Err(PluginError::NotFound(format!(
                "no accelerator named `{}` that [policy.grants] allow (run the workflow first?)",
                self.accelerator
            ))),
            many => Err(PluginError::Conflict(format!(
                "{} accelerators are named `{}`; the policy needs exactly one",
                many.len(),
                self.accelerator
            ))),
        }
    }

    /// Probes each region's load balancers `samples` times at the listener's first
    /// port, and summarises the region's window.
    async fn probe_all(
        &mut self,
        host: &mut StepHost,
        listeners: &[Listener],
    ) -> Result<Vec<RegionProbes>, PluginError> {
        let mut this_tick: BTreeMap<String, Vec<Sample>> = BTreeMap::new();
        for listener in listeners {
            let port = listener.port_ranges.first().map_or(80, |p| p.from_port);
            for group in &listener.endpoint_groups {
                let samples = this_tick.entry(group.region.clone()).or_default();
                for endpoint in &group.endpoints {
                    let Some(dns) = self.dns_name(host, &endpoint.endpoint_id).await? else {
                        continue;
                    };
                    let url = format!("http://{dns}:{port}{}", self.probe.path);
                    for _ in 0..self.probe.samples {
                        samples.push(probe_once(host, &url, &self.probe).await?);
                    }
                }
            }
        }
        let window = self.probe.window as usize;
        let mut out = Vec::new();
        for (region, samples) in this_tick {
            let kept = self.window.entry(region.clone()).or_default();
            kept.push_back(samples);
            while kept.len() > window {
                kept.pop_front();
            }
            out.push(summarise(&region, kept.iter().flatten()));
        }
        Ok(out)
    }

    /// The DNS name of a load-balancer endpoint, read once through ELBv2.
    async fn dns_name(
        &mut self,
        host: &mut StepHost,
        endpoint: &str,
    ) -> Result<Option<String>, PluginError> {
        if let Some(known) = self.dns.get(endpoint) {
            return Ok(known.clone());
        }
        let name = match elb_region(endpoint) {
            Some(region) => host
                .describe_load_balancers(region.to_string(), vec![endpoint.to_string()], vec![])
                .await
                .map_err(trap)??
                .into_iter()
                .next()
                .map(|lb| lb.dns_name),
            None => None,
        };
        self.dns.insert(endpoint.to_string(), name.clone());
        Ok(name)
    }
}

/// One probe. Only a grant problem or a bad URL is an error of the loop; an endpoint
/// that does not answer is a failed sample, which is what the policy must see.
async fn probe_once(
    host: &mut StepHost,
    url: &str,
    settings: &PolicyProbe,
) -> Result<Sample, PluginError> {
    let request = Request {
        url: url.to_string(),
        method: Method::Get,
        timeout_ms: settings.timeout.as_millis().min(u32::MAX as u128) as u32,
        max_body: 0,
        headers: vec![],
    };
    match host.fetch(request).await.map_err(trap)? {
        Ok(r) if r.status < 500 => Ok(Some(r.latency_us as f32 / 1000.0)),
        Ok(_) => Ok(None),
        Err(e @ (PluginError::Denied(_) | PluginError::Invalid(_))) => Err(e),
        Err(_) => Ok(None),
    }
}

/// A region's probe figures over its window.
fn summarise<'a>(region: &str, samples: impl Iterator<Item = &'a Sample>) -> RegionProbes {
    let mut latencies = Vec::new();
    let mut count = 0u32;
    let mut errors = 0u32;
    for s in samples {
        count += 1;
        match s {
            Some(ms) => latencies.push(*ms),
            None => errors += 1,
        }
    }
    latencies.sort_by(f32::total_cmp);
    let pct = |p: f32| -> f32 {
        if latencies.is_empty() {
            return 0.0;
        }
        let rank = ((p * latencies.len() as f32).ceil() as usize).clamp(1, latencies.len());
        latencies[rank - 1]
    };
    RegionProbes {
        region: region.to_string(),
        samples: count,
        errors,
        error_rate: if count == 0 {
            0.0
        } else {
            errors as f32 / count as f32
        },
        p50_ms: pct(0.50),
        p95_ms: pct(0.95),
        max_ms: latencies.last().copied().unwrap_or(0.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_count_failures_as_errors_not_latencies() {
        let samples: Vec<Sample> = (1..=19)
            .map(|ms| Some(ms as f32))
            .chain([None, Some(100.0)])
            .collect();
        let r = summarise("us-east-1", samples.iter());
        assert_eq!((r.samples, r.errors), (21, 1));
        assert_eq!((r.p50_ms, r.p95_ms, r.max_ms), (10.0, 19.0, 100.0));
        assert!((r.error_rate - 1.0 / 21.0).abs() < 1e-6);
        let none = summarise("us-east-2", [None, None].iter());
        assert_eq!((none.error_rate, none.p95_ms), (1.0, 0.0));
    }

    #[test]
    fn regions_come_from_load_balancer_arns_only() {
        assert_eq!(
            elb_region("arn:aws:elasticloadbalancing:us-east-2:000000000000:loadbalancer/app/a/1"),
            Some("us-east-2")
        );
        assert_eq!(elb_region("i-0123456789abcdef0"), None);
    }
}
