//! `[policy]`: the routing policy `runner watch` runs against one accelerator. It is
//! validated with the rest of the file so a bad interval or grant is reported before
//! the loop starts, with its line.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::grants::Grants;
use crate::plugin::PluginRef;

/// A validated `[policy]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// `plugin` (and `sha256`): a built-in policy by name, or a component file.
    pub plugin: PluginRef,
    /// `accelerator`: the accelerator's name (`${vars.NAME}` substituted).
    pub accelerator: String,
    /// `every`: how often the loop observes and decides.
    pub every: Duration,
    /// `with`: the policy's parameters, `${vars.NAME}` substituted; always an object.
    pub with: Value,
    /// `probe`: how the host probes each region's endpoints.
    pub probe: PolicyProbe,
    /// `grants`: what the loop may read and change on the policy's behalf; the guard
    /// rails of its `global_accelerator` grant bound every decision.
    pub grants: Grants,
    /// 1-based line of the `[policy]` table.
    pub line: usize,
}

/// `[policy.probe]`: HTTP probes of each endpoint, whose latencies and errors the
/// observation reports per region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyProbe {
    /// `path`: requested on each endpoint's DNS name at the listener's first port.
    pub path: String,
    /// `samples`: probes per endpoint per observation.
    pub samples: u32,
    /// `timeout`: a probe that takes longer counts as an error.
    pub timeout: Duration,
    /// `window`: how many observations' probes the percentiles cover.
    pub window: u32,
    /// `enabled`: false skips probing (then no elbv2 or probe grant is needed).
    pub enabled: bool,
}

impl Default for PolicyProbe {
    fn default() -> Self {
        PolicyProbe {
            path: "/".into(),
            samples: 3,
            timeout: Duration::from_secs(2),
            window: 6,
            enabled: true,
        }
    }
}

impl Policy {
    /// The default `every`.
    pub const DEFAULT_EVERY: Duration = Duration::from_secs(10);

    /// The component file, when `plugin` names one.
    pub fn file(&self) -> Option<&PathBuf> {
        match &self.plugin {
            PluginRef::File { path, .. } => Some(path),
            PluginRef::Builtin(_) => None,
        }
    }
}
