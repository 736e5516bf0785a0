//! Routing policies: small pure components (`routing-policy` world) that turn an
//! observation of an accelerator into a decision on its dials and weights. The host
//! does the rest: `observe` reads the accelerator and probes its endpoints through the
//! capabilities, `runtime` runs the policy under limits, `apply` clamps the decision to
//! the grants' guard rails and applies it, `watch` is the loop, `harness` replays
//! recorded observations offline, and `template` writes a new policy crate.

pub mod apply;
pub mod builtins;
pub mod harness;
pub mod observation;
pub mod observe;
pub mod runtime;
pub mod template;
pub mod watch;
