//! Guest-side SDK for runner step plugins.
//!
//! It generates the `step` world's bindings once, so each plugin only implements
//! [`Guest`] and calls [`export!`]; and it turns the JSON the host passes into typed
//! values with errors the host understands.
//!
//! ```ignore
//! struct Hello;
//! impl runner_plugin::Guest for Hello {
//!     fn describe(_: String) -> Result<Description, Error> { ... }
//!     fn run(input: Invocation) -> Result<String, Error> { ... }
//!     fn destroy(_: Invocation, _: Recorded) -> Result<(), Error> { Ok(()) }
//! }
//! runner_plugin::export!(Hello);
//! ```

extern crate self as runner_plugin;

#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

/// Health-check settings of Global Accelerator endpoint groups, as plugins take them.
pub mod health;
/// Waiting for cloud state with a deadline; idempotency tokens.
pub mod poll;

/// The SDK's serde, so plugins can use the generated types' `Serialize`/`Deserialize`
/// (and derive their own with `#[serde(crate = "runner_plugin::serde")]`) without
/// depending on serde themselves.
pub use serde;
/// The SDK's serde_json, for the same reason.
pub use serde_json;

/// The generated `step` bindings (in a module: a crate-root `generate!` with a public
/// export macro collides with its own re-export).
///
/// Every generated type also derives serde's `Serialize` and `Deserialize` (the
/// derives expand here, against the SDK's serde), so a plugin can pass typed cloud
/// values through JSON: records as objects with snake_case fields, enums and variants
/// externally tagged by their Rust (CamelCase) variant names.
#[allow(clippy::too_many_arguments)] // generated lowering helpers of the cloud imports
pub mod bindings {
    wit_bindgen::generate!({
        world: "step",
        path: "../../wit",
        pub_export_macro: true,
        default_bindings_module: "runner_plugin::bindings",
        runtime_path: "runner_plugin::__wit_bindgen::rt",
        additional_derives: [serde::Serialize, serde::Deserialize],
    });
}

/// Elastic Load Balancing v2: load balancers, target groups, listeners, tags.
pub use bindings::runner::plugin::elbv2;
/// AWS Global Accelerator: accelerators, listeners, endpoint groups, tags.
pub use bindings::runner::plugin::global_accelerator;
/// Who the host's AWS credentials belong to.
pub use bindings::runner::plugin::identity;
/// Any kind in the workflow's clusters, objects as JSON text.
pub use bindings::runner::plugin::kubernetes;
pub use bindings::runner::plugin::log::{self as host_log, Field, Level};
/// HTTP GET/HEAD probes from the host.
pub use bindings::runner::plugin::probe;
/// Amazon Route 53 hosted zones and record sets.
pub use bindings::runner::plugin::route53;
pub use bindings::runner::plugin::state;
/// An AWS resource tag, shared by the AWS interfaces.
pub use bindings::runner::plugin::types::Tag;
pub use bindings::{Description, Error, Guest, Invocation, Recorded, export};

use serde::de::DeserializeOwned;

/// Parses the step's parameters into `T`; a mismatch is the step's `invalid` error.
pub fn params<T: DeserializeOwned>(json: &str) -> Result<T, Error> {
    serde_json::from_str(json).map_err(|e| Error::Invalid(format!("bad `with` parameters: {e}")))
}

/// Serialises outputs for `run`'s return value.
pub fn outputs(value: &serde_json::Value) -> Result<String, Error> {
    serde_json::to_string(value).map_err(|e| Error::Internal(format!("encoding outputs: {e}")))
}

/// Prefixes an error's message with what the step was doing, keeping its kind (and so
/// the host's retry decision): `.map_err(runner_plugin::context("creating the listener"))`.
pub fn context(what: impl std::fmt::Display) -> impl FnOnce(Error) -> Error {
    move |e| {
        let with = |m: String| format!("{what}: {m}");
        match e {
            Error::Denied(m) => Error::Denied(with(m)),
            Error::NotFound(m) => Error::NotFound(with(m)),
            Error::Conflict(m) => Error::Conflict(with(m)),
            Error::Invalid(m) => Error::Invalid(with(m)),
            Error::Throttled(m) => Error::Throttled(with(m)),
            Error::Unavailable(m) => Error::Unavailable(with(m)),
            Error::Timeout(m) => Error::Timeout(with(m)),
            Error::Internal(m) => Error::Internal(with(m)),
        }
    }
}

/// Records `key` in the step's state unless it already holds `value`, so a converged
/// re-run writes (and journals) nothing.
pub fn remember(key: &str, value: &str) -> Result<(), Error> {
    if state::get(key).as_deref() != Some(value) {
        state::set(key, value)?;
    }
    Ok(())
}

/// A JSON value the step recorded in its state under `key`; `internal` when what is
/// there does not parse (the plugin itself wrote it).
pub fn recall<T: DeserializeOwned>(key: &str) -> Result<Option<T>, Error> {
    state::get(key)
        .map(|text| {
            serde_json::from_str(&text)
                .map_err(|e| Error::Internal(format!("recorded state `{key}` is unreadable: {e}")))
        })
        .transpose()
}

/// Logs at info level with structured fields.
pub fn info(message: &str, fields: &[(&str, &str)]) {
    log(Level::Info, message, fields);
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

/// Reports progress (`total` 0 when unknown).
pub fn progress(done: u64, total: u64, message: &str) {
    host_log::progress(done, total, message);
}

/// A description with no outputs, for plugins that only act or check.
pub fn no_outputs(summary: &str) -> Description {
    Description {
        outputs: Vec::new(),
        summary: summary.to_string(),
    }
}
