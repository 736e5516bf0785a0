//! Host-side bindings of the `step` world, generated from `wit/`.
//!
//! Imports are async (capabilities do I/O) and trappable (a guest that abuses a host
//! function is stopped, not answered), and every import gets a tracing span.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "step",
    imports: { default: async | trappable | tracing },
    exports: { default: async },
});

pub use self::runner::plugin::log::Level;
pub use self::runner::plugin::types::Error as PluginError;

/// Host-side bindings of the `routing-policy` world. Its only import, `log`, and the
/// shared types are the step world's, so one linker serves both worlds; its records
/// derive serde so observations can be recorded and replayed as JSON.
pub mod policy {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "routing-policy",
        imports: { default: async | trappable | tracing },
        exports: { default: async },
        with: {
            "runner:plugin/log": crate::bindings::runner::plugin::log,
            "runner:plugin/types": crate::bindings::runner::plugin::types,
        },
        additional_derives: [serde::Serialize, serde::Deserialize],
    });

    pub use self::runner::plugin::routing::*;
}
