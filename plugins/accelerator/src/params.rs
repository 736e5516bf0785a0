//! The `with` table, and the checks serde cannot express (ranges, enums, duplicates), so
//! bad input fails as `invalid` before any cloud call.

use std::collections::BTreeMap;

use runner_plugin::Error;
use runner_plugin::global_accelerator::{EndpointConfiguration, PortRange};
pub use runner_plugin::health::HealthParams;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub name: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub ip_address_type: Option<String>,
    pub listener: Listener,
    pub endpoint_groups: Vec<Group>,
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
}

fn default_timeout() -> u64 {
    300_000
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    pub protocol: String,
    pub ports: Vec<u16>,
    #[serde(default)]
    pub client_affinity: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    pub region: String,
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
    /// 100 on creation when absent; only a declared dial is enforced afterwards, so a
    /// `failover-policy` step can own the dials without the two steps fighting.
    #[serde(default)]
    pub traffic_dial: Option<f32>,
    #[serde(default)]
    pub health_check: HealthParams,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    pub id: String,
    /// 128 on creation when absent; only a declared weight is enforced afterwards
    /// (the same reason as `traffic_dial`).
    #[serde(default)]
    pub weight: Option<u8>,
    #[serde(default = "yes")]
    pub client_ip_preservation: bool,
}

fn yes() -> bool {
    true
}

impl Endpoint {
    /// `current` is the weight AWS has now, kept when none is declared.
    pub fn to_wit(&self, current: Option<u8>) -> EndpointConfiguration {
        EndpointConfiguration {
            endpoint_id: self.id.clone(),
            weight: Some(self.weight.or(current).unwrap_or(128)),
            client_ip_preservation_enabled: Some(self.client_ip_preservation),
        }
    }
}

impl Listener {
    /// Each declared port is its own single-port range, sorted so comparison with AWS's
    /// listeners ignores order.
    pub fn ranges(&self) -> Vec<PortRange> {
        let mut ports = self.ports.clone();
        ports.sort_unstable();
        ports
            .into_iter()
            .map(|p| PortRange {
                from_port: p,
                to_port: p,
            })
            .collect()
    }
}

fn invalid(m: String) -> Error {
    Error::Invalid(format!("accelerator: {m}"))
}

impl Params {
    pub fn check(&self) -> Result<(), Error> {
        if self.name.is_empty() || self.name.len() > 64 {
            return Err(invalid("`name` must be 1-64 characters".into()));
        }
        if let Some(t) = &self.ip_address_type
            && t != "IPV4"
            && t != "DUAL_STACK"
        {
            return Err(invalid(format!(
                "ip_address_type `{t}`: expected IPV4 or DUAL_STACK"
            )));
        }
        let l = &self.listener;
        if l.protocol != "TCP" && l.protocol != "UDP" {
            return Err(invalid(format!(
                "listener.protocol `{}`: expected TCP or UDP",
                l.protocol
            )));
        }
        if l.ports.is_empty() || l.ports.len() > 10 {
            return Err(invalid("listener.ports must list 1-10 ports".into()));
        }
        let mut ports = l.ports.clone();
        ports.sort_unstable();
        ports.dedup();
        if ports.len() != l.ports.len() || ports.contains(&0) {
            return Err(invalid(
                "listener.ports must be distinct ports between 1 and 65535".into(),
            ));
        }
        if let Some(a) = &l.client_affinity
            && a != "NONE"
            && a != "SOURCE_IP"
        {
            return Err(invalid(format!(
                "listener.client_affinity `{a}`: expected NONE or SOURCE_IP"
            )));
        }
        for (i, g) in self.endpoint_groups.iter().enumerate() {
            let at = format!("endpoint_groups[{i}] ({})", g.region);
            if self.endpoint_groups[..i]
                .iter()
                .any(|o| o.region == g.region)
            {
                return Err(invalid(format!(
                    "{at}: region declared twice (one endpoint group per region)"
                )));
            }
            if g.traffic_dial.is_some_and(|d| !(0.0..=100.0).contains(&d)) {
                return Err(invalid(format!("{at}.traffic_dial must be 0-100")));
            }
            if g.endpoints.len() > 10 {
                return Err(invalid(format!("{at}: at most 10 endpoints per group")));
            }
            for (j, e) in g.endpoints.iter().enumerate() {
                if g.endpoints[..j].iter().any(|o| o.id == e.id) {
                    return Err(invalid(format!("{at}: endpoint `{}` listed twice", e.id)));
                }
            }
            g.health_check
                .check(&format!("{at}.health_check"))
                .map_err(invalid)?;
        }
        Ok(())
    }
}
