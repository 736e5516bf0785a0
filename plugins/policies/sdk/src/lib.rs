//! Guest-side SDK for runner routing policies.
//!
//! It generates the `routing-policy` world's bindings once, so each policy only
//! implements [`Guest`] and calls [`export!`], and it holds what the built-in policies
//! share: typed `params` with `invalid` errors that name the field ([`Params`]), typed
//! `memory` ([`load`], [`save`]), the observation's lookups and a region's health
//! ([`observe`]), and a change list that only holds what differs from the observed
//! state ([`Changes`]), so a converged policy answers with no changes at all.
//!
//! ```ignore
//! struct Keep;
//! impl runner_policy::Guest for Keep {
//!     fn decide(observation: Observation) -> Result<Decision, Error> {
//!         Ok(runner_policy::decision(Changes::new(), "nothing to do".into(), None))
//!     }
//! }
//! runner_policy::export!(Keep);
//! ```

extern crate self as runner_policy;

#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

/// The SDK's serde, so policies can derive `Serialize`/`Deserialize` for their memory
/// (with `#[serde(crate = "runner_policy::serde")]`) without depending on serde.
pub use serde;
/// The SDK's serde_json, for the same reason.
pub use serde_json;

/// The generated `routing-policy` bindings (in a module: a crate-root `generate!` with a
/// public export macro collides with its own re-export).
///
/// Every generated type also derives serde's `Serialize` and `Deserialize`, so
/// observations and decisions round-trip through JSON as objects with snake_case
/// fields: the host's recorded-observation format, and what the offline replay in
/// [`replay`] reads.
#[allow(clippy::too_many_arguments)] // generated lifting helpers of the observation
pub mod bindings {
    wit_bindgen::generate!({
        world: "routing-policy",
        path: "../../../wit",
        pub_export_macro: true,
        default_bindings_module: "runner_policy::bindings",
        runtime_path: "runner_policy::__wit_bindgen::rt",
        additional_derives: [serde::Serialize, serde::Deserialize],
    });
}

mod changes;
mod params;

/// Lookups in an observation: a region's groups and probes, and its health.
pub mod observe;
/// Replays recorded observations through a policy natively, for the policies' tests.
#[cfg(not(target_arch = "wasm32"))]
pub mod replay;

pub use bindings::runner::plugin::log::{self as host_log, Field, Level};
pub use bindings::runner::plugin::routing::{
    Endpoint, EndpointGroup, EndpointWeight, GroupChange, Listener, PortRange, RegionProbes,
};
pub use bindings::{Decision, Error, Guest, Observation, export};
pub use changes::Changes;
pub use params::{Params, dial, number, positive, text, weight, whole};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The decision for `changes`, with its one-line `reason` and the `memory` to hand to
/// the next observation.
pub fn decision(changes: Changes, reason: String, memory: Option<String>) -> Decision {
    Decision {
        changes: changes.into_vec(),
        reason,
        memory,
    }
}

/// The policy's memory from the previous decision, or `T::default()` on the first tick.
///
/// Memory the policy cannot read (written by another version of it, say) is logged and
/// replaced by the default rather than failing the call: the host only hands back the
/// memory of a *successful* decision, so an error here would repeat on every tick and
/// the policy could never recover.
pub fn load<T: DeserializeOwned + Default>(policy: &str, memory: Option<&str>) -> T {
    let Some(text) = memory else {
        return T::default();
    };
    match serde_json::from_str(text) {
        Ok(value) => value,
        Err(e) => {
            warn(
                &format!(
                    "{policy}: memory from the previous decision is unreadable; starting afresh"
                ),
                &[("error", &e.to_string())],
            );
            T::default()
        }
    }
}

/// Encodes `value` as the decision's memory.
pub fn save<T: Serialize>(value: &T) -> Result<Option<String>, Error> {
    serde_json::to_string(value)
        .map(Some)
        .map_err(|e| Error::Internal(format!("encoding the policy's memory: {e}")))
}

/// Logs at warn level with structured fields.
pub fn warn(message: &str, fields: &[(&str, &str)]) {
    log(Level::Warn, message, fields);
}

/// Logs with any level and structured fields.
pub fn log(level: Level, message: &str, fields: &[(&str, &str)]) {
    let fields: Vec<Field> = fields
        .iter()
        .map(|(k, v)| Field {
            key: (*k).to_string(),
            value: (*v).to_string(),
        })
        .collect();
    host_log::log(level, message, &fields);
}
