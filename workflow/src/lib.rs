//! The runner workflow format: parsing and validating workflow TOML files (reporting every
//! problem at once, with file:line:col), the step DAG, `${...}` interpolation and `if`
//! conditions. The host engine runs what this crate validates; the format itself is
//! described in `workflow/README.md`.
//!
//! Validation happens in two phases. [`Workflow::load`] / [`Workflow::parse`] check
//! everything the file alone can tell; [`Workflow::check_plugins`] then asks the host's
//! [`PluginCatalog`] about each step's plugin. Both return a [`Report`] of every problem.
//!
//! The clouds a workflow touches are [`Workflow::cloud`] (`[clusters.*]` and `[aws]`), what
//! the local sandbox must hold before the run is [`Workflow::sandbox`] (`[sandbox]`), and
//! what each step may do there is [`Step::grant`]: deny by default, checked by the host
//! before every cloud call with the pure matcher on [`Grants`], which answers [`Denied`]
//! naming the missing grant.
//!
//! ```
//! use std::collections::BTreeMap;
//! use std::path::Path;
//!
//! use runner_workflow::{Context, Workflow};
//! use serde_json::{Map, json};
//!
//! let source = r#"
//! name = "hello"
//! [vars]
//! who = "world"
//! [[steps]]
//! id = "greet"
//! plugin = "echo"
//! with = { message = "hello ${vars.who}" }
//! [[steps]]
//! id = "shout"
//! plugin = "echo"
//! with = { message = "${steps.greet.outputs.message}" }
//! if = "${vars.who} != ''"
//! "#;
//! let overrides = [("who".to_owned(), "runner".to_owned())];
//! let workflow = Workflow::parse(Path::new("hello.toml"), source, &overrides).unwrap();
//!
//! // `shout` reads an output of `greet`, so it runs after it.
//! let order: Vec<&str> = workflow.order().iter().map(|s| s.id.as_str()).collect();
//! assert_eq!(order, ["greet", "shout"]);
//!
//! let mut greet = Map::new();
//! greet.insert("message".into(), json!("hello runner"));
//! let outputs = BTreeMap::from([("greet".to_owned(), greet)]);
//! let ctx = Context { vars: &workflow.vars, outputs: &outputs };
//! let shout = workflow.step("shout").unwrap();
//! assert!(shout.condition.as_ref().unwrap().eval(&ctx).unwrap());
//! assert_eq!(workflow.render_with(shout, &ctx).unwrap(), json!({"message": "hello runner"}));
//!
//! // Every problem at once, in file order.
//! let report = Workflow::parse(Path::new("bad.toml"), "name = 1\n", &[]).unwrap_err();
//! let messages: Vec<&str> = report.diagnostics().iter().map(|d| d.message.as_str()).collect();
//! assert_eq!(messages, [
//!     "missing required key `steps`",
//!     "wrong type for `name`: expected a string, found an integer",
//! ]);
//! ```

mod bounded_read;
mod cloud;
mod condition;
mod dag;
mod diagnostic;
#[doc(hidden)]
pub mod fuzzing;
mod grants;
mod overrides;
mod plugin;
mod policy;
mod schema;
mod suggest;
mod template;
mod toml_string;
mod units;
mod workflow;

pub use bounded_read::{ReadProblem, read_regular_file};
pub use cloud::{AwsConfig, CloudConfig, Cluster, SandboxPrereqs, WrongAccount};
pub use condition::Condition;
pub use diagnostic::{Diagnostic, Report};
pub use grants::{
    AcceleratorGrant, AcceleratorSelector, Denied, DialGuard, Elbv2Grant, Grants, HostedZone,
    KUBERNETES_VERBS, KubernetesGrant, ProbeGrant, Route53Grant,
};
pub use plugin::{PluginCatalog, PluginInfo, PluginProblem, PluginRef};
pub use policy::{Policy, PolicyProbe};
pub use template::{Context, RenderError};
pub use workflow::{Limits, Retry, Step, Workflow};
