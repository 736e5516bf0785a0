//! Endpoint-group health-check settings as plugins take them in `with`: every field
//! optional, and only declared fields are enforced, so a step never resets what another
//! step (or a person) set. Shared by the accelerator and failover-policy plugins.

use serde::Deserialize;

use crate::global_accelerator::{EndpointGroup, HealthCheck};

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct HealthParams {
    pub protocol: Option<String>,
    pub port: Option<u16>,
    pub path: Option<String>,
    pub interval_seconds: Option<u8>,
    pub threshold_count: Option<u8>,
}

impl HealthParams {
    /// The settings as the capability takes them (`None` keeps AWS's value).
    pub fn to_wit(&self) -> HealthCheck {
        HealthCheck {
            protocol: self.protocol.clone(),
            port: self.port,
            path: self.path.clone(),
            interval_seconds: self.interval_seconds,
            threshold_count: self.threshold_count,
        }
    }

    /// What AWS would refuse, as a message naming `at` (e.g. `endpoint_groups[0].health_check`).
    pub fn check(&self, at: &str) -> Result<(), String> {
        if let Some(p) = &self.protocol
            && !["TCP", "HTTP", "HTTPS"].contains(&p.as_str())
        {
            return Err(format!("{at}.protocol `{p}`: expected TCP, HTTP or HTTPS"));
        }
        if self.port == Some(0) {
            return Err(format!("{at}.port must be 1-65535"));
        }
        if let Some(p) = &self.path
            && !p.starts_with('/')
        {
            return Err(format!("{at}.path `{p}` must start with `/`"));
        }
        if let Some(n) = self.interval_seconds
            && n != 10
            && n != 30
        {
            return Err(format!(
                "{at}.interval_seconds {n}: AWS accepts only 10 or 30"
            ));
        }
        if let Some(n) = self.threshold_count
            && !(1..=10).contains(&n)
        {
            return Err(format!("{at}.threshold_count {n} must be 1-10"));
        }
        Ok(())
    }

    /// Whether a declared field differs from the group's current setting.
    pub fn differs(&self, h: &EndpointGroup) -> bool {
        self.protocol
            .as_ref()
            .is_some_and(|p| *p != h.health_check_protocol)
            || self.port.is_some_and(|p| p != h.health_check_port)
            || self
                .path
                .as_ref()
                .is_some_and(|p| Some(p) != h.health_check_path.as_ref())
            || self
                .interval_seconds
                .is_some_and(|n| n != h.health_check_interval_seconds)
            || self.threshold_count.is_some_and(|n| n != h.threshold_count)
    }
}
