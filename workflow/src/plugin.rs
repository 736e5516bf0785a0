//! What a step runs, and the checks that need the plugins themselves (existence, sha256
//! pin, the `step` world, declared outputs). Those go through [`PluginCatalog`], which the
//! host implements, so this crate stays free of wasmtime.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;

use crate::diagnostic::{Collector, Report, SourceText};
use crate::suggest::Suggester;
use crate::template::Reference;
use crate::workflow::Step;
use crate::workflow::Workflow;

/// The plugin a step runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginRef {
    /// A plugin embedded in the runner binary, by name.
    Builtin(String),
    /// A component file.
    File {
        /// Resolved against the directory of the workflow file.
        path: PathBuf,
        /// The pinned sha256 (64 lowercase hex digits), if any.
        sha256: Option<String>,
    },
}

impl PluginRef {
    /// How the workflow names a plugin: a value with a `/` or ending in `.wasm` is a path.
    pub(crate) fn is_path(text: &str) -> bool {
        text.contains('/') || text.ends_with(".wasm")
    }
}

impl fmt::Display for PluginRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PluginRef::Builtin(name) => f.write_str(name),
            PluginRef::File { path, .. } => write!(f, "{}", path.display()),
        }
    }
}

/// What the host knows about the plugins; implemented by the engine, faked in tests.
pub trait PluginCatalog {
    /// Names of the built-in plugins, for "unknown built-in" hints.
    fn builtins(&self) -> Vec<String>;
    /// Resolve and inspect a step's plugin (`step.plugin`), given the step's raw
    /// (uninterpolated) `with` table and within the step's own limits and deadline.
    fn inspect(&self, step: &Step) -> Result<PluginInfo, PluginProblem>;
}

/// What a plugin declares about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PluginInfo {
    /// The outputs the plugin produces; `None` when it does not declare them, in which
    /// case references to its outputs are not checked before the run.
    pub outputs: Option<BTreeSet<String>>,
}

/// Why a step's plugin cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginProblem {
    /// No built-in plugin has this name.
    UnknownBuiltin,
    /// The component file cannot be read; the text says why.
    Missing(String),
    /// The file's sha256 differs from the pinned one.
    Sha256Mismatch {
        /// The pinned digest.
        expected: String,
        /// The file's digest.
        actual: String,
    },
    /// The file is not a component implementing the `step` world; the text says why.
    NotAStep(String),
    /// The plugin rejected the step's `with`; the text says why.
    Invalid(String),
}

/// The plugin checks of [`Workflow::check_plugins`].
pub(crate) fn check(workflow: &Workflow, catalog: &dyn PluginCatalog) -> Result<(), Report> {
    let text = SourceText::new(&workflow.source);
    let mut problems = Collector::new(&workflow.file);
    let mut hints = Suggester::new();
    let mut declared: BTreeMap<&str, (&str, BTreeSet<String>)> = BTreeMap::new();
    for (step, site) in workflow.steps.iter().zip(&workflow.sites) {
        if problems.is_full() {
            break;
        }
        let plugin = &site.plugin_text;
        let id = &step.id;
        let problem = match catalog.inspect(step) {
            Ok(PluginInfo {
                outputs: Some(outputs),
            }) => {
                declared.insert(id, (plugin, outputs));
                continue;
            }
            Ok(PluginInfo { outputs: None }) => continue,
            Err(problem) => problem,
        };
        let (span, message, help) = match problem {
            PluginProblem::UnknownBuiltin => {
                let builtins = catalog.builtins();
                let help = hints
                    .did_you_mean(plugin, builtins.iter().map(String::as_str))
                    .unwrap_or_else(|| format!("built-in plugins: {}", builtins.join(", ")));
                (
                    site.plugin.clone(),
                    format!("unknown built-in plugin `{plugin}` in step `{id}`"),
                    Some(help),
                )
            }
            PluginProblem::Missing(why) => (
                site.plugin.clone(),
                format!("cannot read plugin `{plugin}` of step `{id}`: {why}"),
                None,
            ),
            PluginProblem::Sha256Mismatch { expected, actual } => (
                site.sha256.clone().unwrap_or_else(|| site.plugin.clone()),
                format!(
                    "sha256 mismatch for plugin `{plugin}` of step `{id}`: expected {expected}, file has {actual}"
                ),
                None,
            ),
            PluginProblem::NotAStep(why) => (
                site.plugin.clone(),
                format!("plugin `{plugin}` of step `{id}` is not a step component: {why}"),
                Some("a step plugin must implement the `step` world of runner:plugin".into()),
            ),
            PluginProblem::Invalid(why) => (
                site.with.clone().unwrap_or_else(|| site.table.clone()),
                format!("plugin `{plugin}` rejected the `with` of step `{id}`: {why}"),
                None,
            ),
        };
        problems.at(&text, span, message, help);
    }
    for site in &workflow.sites {
        for (reference, span) in &site.output_refs {
            if problems.is_full() {
                break;
            }
            let Reference::Output { step, key } = reference else {
                continue;
            };
            let Some((plugin, outputs)) = declared.get(step.as_str()) else {
                continue;
            };
            if outputs.contains(key) {
                continue;
            }
            let help = hints
                .did_you_mean(key, outputs.iter().map(String::as_str))
                .unwrap_or_else(|| {
                    if outputs.is_empty() {
                        return format!("plugin `{plugin}` declares no outputs");
                    }
                    let list: Vec<&str> = outputs.iter().map(String::as_str).collect();
                    format!(
                        "plugin `{plugin}` declares the outputs: {}",
                        list.join(", ")
                    )
                });
            let message = format!("step `{step}` has no output `{key}`");
            problems.at(&text, span.clone(), message, Some(help));
        }
    }
    problems.finish()
}
