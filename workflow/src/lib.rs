//! The runner workflow format: parsing and validating workflow TOML files (reporting every
//! problem at once, with file:line:col), the step DAG, `${...}` interpolation and `if`
//! conditions. The host engine runs what this crate validates.

mod condition;
mod dag;
mod diagnostic;
mod overrides;
mod plugin;
mod schema;
mod suggest;
mod template;
mod toml_string;
mod units;
mod workflow;

pub use condition::Condition;
pub use diagnostic::{Diagnostic, Report};
pub use plugin::{PluginCatalog, PluginInfo, PluginProblem, PluginRef};
pub use template::{Context, Reference, RenderError};
pub use workflow::{Limits, Retry, Step, Workflow};
