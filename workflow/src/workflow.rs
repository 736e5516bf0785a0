//! The validated workflow: what the engine runs, plus the source positions it keeps so
//! later checks (plugins, declared outputs) can still point into the file.

use crate::bounded_read::{ReadProblem, read_regular_file};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::cloud::{CloudConfig, SandboxPrereqs};
use crate::condition::Condition;
use crate::diagnostic::{Diagnostic, Report};
use crate::grants::Grants;
use crate::plugin::{PluginCatalog, PluginRef};
use crate::policy::Policy;
use crate::template::{Context, Files, Reference, RenderError};
use crate::{dag, plugin, schema};

/// A parsed and validated workflow.
#[derive(Debug, Clone)]
pub struct Workflow {
    /// The workflow file, as the caller named it.
    pub file: PathBuf,
    /// `name`.
    pub name: String,
    /// `description`.
    pub description: Option<String>,
    /// `[vars]`, after `--var` overrides.
    pub vars: BTreeMap<String, Value>,
    /// The steps, in file order.
    pub steps: Vec<Step>,
    /// `clusters` as JSON, as written; `Null` when absent. [`Workflow::cloud`] is the
    /// validated form.
    pub clusters: Value,
    /// `aws` as JSON, as written; `Null` when absent. [`Workflow::cloud`] is the
    /// validated form.
    pub aws: Value,
    /// `[clusters.*]` and `[aws]`, validated.
    pub cloud: CloudConfig,
    /// `[policy]`, validated; None when absent.
    pub policy: Option<Policy>,
    /// `[sandbox]`, validated; empty when absent. Only `--cloud sandbox` acts on it.
    pub sandbox: SandboxPrereqs,
    /// The texts of the files `${file:PATH}` in `with` refers to, read at validation so
    /// a missing or forbidden file stops the run before it starts.
    pub(crate) files: Files,
    pub(crate) source: String,
    pub(crate) sites: Vec<StepSite>,
}

/// One step of a workflow.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// `id`, unique in the workflow.
    pub id: String,
    /// `plugin` (and `sha256`).
    pub plugin: PluginRef,
    /// The steps this one waits for: `needs` plus every step whose outputs it refers to.
    pub needs: BTreeSet<String>,
    /// `with`, uninterpolated (a `${file:PATH}` is still the reference, not the file's
    /// text); always an object.
    pub with: Value,
    /// `grants` as JSON, as written; `{}` when absent. [`Step::grant`] is the validated
    /// form the capability layer checks calls against.
    pub grants: Value,
    /// `grants`, validated; grants nothing when absent.
    pub grant: Grants,
    /// `timeout`.
    pub timeout: Option<Duration>,
    /// `retry`, defaults filled in.
    pub retry: Retry,
    /// `limits`.
    pub limits: Limits,
    /// `if`.
    pub condition: Option<Condition>,
    /// 1-based line of the step's table header (or inline table) in the file.
    pub line: usize,
}

/// How often and how patiently a failed step is retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retry {
    /// Total attempts, the first included (at least 1).
    pub attempts: u32,
    /// Delay after the first failed attempt; it doubles after each further failure.
    pub backoff: Duration,
    /// Upper bound of the delay.
    pub max_backoff: Duration,
}

impl Retry {
    pub(crate) const DEFAULT_BACKOFF: Duration = Duration::from_secs(1);
    pub(crate) const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(30);

    /// The delay after failed attempt number `attempt` (1-based): `backoff * 2^(attempt-1)`,
    /// capped at `max_backoff`.
    pub fn delay(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1);
        let factor = 1u32.checked_shl(doublings);
        factor
            .and_then(|f| self.backoff.checked_mul(f))
            .map_or(self.max_backoff, |d| d.min(self.max_backoff))
    }
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 1,
            backoff: Self::DEFAULT_BACKOFF,
            max_backoff: Self::DEFAULT_MAX_BACKOFF,
        }
    }
}

/// Resource limits of a step; `None` leaves the engine's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory cap, in bytes.
    pub memory: Option<u64>,
    /// CPU budget, in wasmtime fuel units.
    pub fuel: Option<u64>,
    /// Cap on the size of the step's JSON output, in bytes.
    pub output: Option<u64>,
}

/// Where a step's parts are in the file, for diagnostics found after parsing.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StepSite {
    /// The step's table header or inline table.
    pub(crate) table: Range<usize>,
    /// The `plugin` value, and its text as written.
    pub(crate) plugin: Range<usize>,
    pub(crate) plugin_text: String,
    pub(crate) sha256: Option<Range<usize>>,
    pub(crate) with: Option<Range<usize>>,
    /// Every `${steps.X.outputs.Y}` in `with` and `if`, at its `${` in the file.
    pub(crate) output_refs: Vec<(Reference, Range<usize>)>,
}

impl Workflow {
    /// Reads and validates the workflow at `path`, applying `--var` overrides, and reads
    /// the files its `with` tables refer to.
    pub fn load(path: &Path, overrides: &[(String, String)]) -> Result<Workflow, Report> {
        let unreadable = |why: String| Report::new(path, vec![Diagnostic::unplaced(path, why)]);
        let bytes = read_regular_file(path, schema::MAX_FILE_BYTES as u64).map_err(|e| {
            unreadable(match e {
                ReadProblem::TooBig { .. } => schema::too_big_message(),
                e => format!("cannot read the workflow: {e}"),
            })
        })?;
        let source = String::from_utf8(bytes).map_err(|e| {
            unreadable(format!(
                "the workflow is not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ))
        })?;
        Self::parse(path, &source, overrides)
    }

    /// Validates workflow text `source`; `path` names it in diagnostics and anchors
    /// relative plugin paths and `${file:PATH}` references, whose files are read here.
    pub fn parse(
        path: &Path,
        source: &str,
        overrides: &[(String, String)],
    ) -> Result<Workflow, Report> {
        schema::parse(path, source, overrides)
    }

    /// Runs the checks that need the plugins: unknown built-ins, missing files, sha256
    /// pins, the `step` world, each plugin's verdict on its `with`, and references to
    /// outputs a plugin does not declare. Reports all problems at once.
    pub fn check_plugins(&self, catalog: &dyn PluginCatalog) -> Result<(), Report> {
        plugin::check(self, catalog)
    }

    /// The step with this id.
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }

    /// The steps in an order that respects `needs`; among steps ready at the same time,
    /// file order wins.
    pub fn order(&self) -> Vec<&Step> {
        let index: BTreeMap<&str, usize> = self
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.as_str(), i))
            .collect();
        let needs: Vec<Vec<usize>> = self
            .steps
            .iter()
            .map(|s| {
                s.needs
                    .iter()
                    .filter_map(|n| index.get(n.as_str()).copied())
                    .collect()
            })
            .collect();
        dag::topological_order(&needs)
            .into_iter()
            .map(|i| &self.steps[i])
            .collect()
    }

    /// `step`'s `with` with every reference substituted: variables and outputs from
    /// `ctx`, `${file:PATH}` by the file's text as read at validation. What the host
    /// hashes for resume, so a changed file re-runs the step.
    pub fn render_with(&self, step: &Step, ctx: &Context<'_>) -> Result<Value, RenderError> {
        crate::template::render_value(&step.with, &step.id, ctx, &self.files)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_doubles_and_is_capped() {
        let retry = Retry {
            attempts: 5,
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(5),
        };
        let delays: Vec<u64> = (1..=5).map(|a| retry.delay(a).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 5, 5]);
        assert_eq!(retry.delay(0), Duration::from_secs(1));
        assert_eq!(retry.delay(40), Duration::from_secs(5));
        assert_eq!(retry.delay(u32::MAX), Duration::from_secs(5));
    }
}
