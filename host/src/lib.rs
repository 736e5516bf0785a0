//! runner: run TOML workflows whose steps are sandboxed WebAssembly components.
//!
//! The binary is a thin CLI over this library: `workflow` (in its own crate) parses
//! and checks workflows, `engine` runs components under limits, `capabilities` are
//! what plugins may call, `exec` schedules steps, `state` keeps journals and locks.

pub mod bindings;
pub mod capabilities;
pub mod cli;
pub mod cloud;
pub mod engine;
pub mod events;
pub mod exec;
#[doc(hidden)]
pub mod fuzzing;
pub mod plugins;
pub mod policy;
pub mod state;
