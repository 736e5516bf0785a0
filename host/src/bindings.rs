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
