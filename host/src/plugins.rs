//! Where plugins come from: the built-ins embedded at build time, or component files
//! named by a workflow (optionally pinned by sha256). Also the catalog through which
//! `runner validate` checks each step's plugin before anything runs.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use runner_workflow::{PluginCatalog, PluginInfo, PluginProblem, PluginRef};

use crate::capabilities::StepHost;
use crate::engine::outcome::{self, Call, Returned};
use crate::engine::{LoadError, LoadedPlugin, StepLimits, WasmEngine, sha256_hex};
use crate::exec::recorder::Recorder;

/// What build.rs embedded: the built-in plugins and policies, the policy template.
pub(crate) mod embedded {
    include!(concat!(env!("OUT_DIR"), "/builtins.rs"));
}

/// The built-in plugins: name, one-line description, component bytes.
pub fn builtins() -> &'static [(&'static str, &'static str, &'static [u8])] {
    embedded::BUILTINS
}

/// A plugin's bytes, found and checked.
pub struct Resolved {
    /// What users call it: the built-in's name or the path as resolved.
    pub label: String,
    pub bytes: Cow<'static, [u8]>,
    pub sha256: String,
}

/// The largest component file runner reads. Components of interpreted languages carry
/// their runtime (componentize-py's are about 40 MB); a path naming something bigger,
/// or not a regular file at all (`/dev/zero`, a FIFO), is refused, not read.
pub const MAX_PLUGIN_BYTES: u64 = 128 << 20;

pub fn resolve(plugin: &PluginRef) -> Result<Resolved, PluginProblem> {
    match plugin {
        PluginRef::Builtin(name) => {
            let (_, _, bytes) = builtins()
                .iter()
                .find(|(n, _, _)| n == name)
                .ok_or(PluginProblem::UnknownBuiltin)?;
            Ok(Resolved {
                label: name.clone(),
                bytes: Cow::Borrowed(*bytes),
                sha256: sha256_hex(bytes),
            })
        }
        PluginRef::File { path, sha256 } => {
            let bytes = runner_workflow::read_regular_file(path, MAX_PLUGIN_BYTES)
                .map_err(|e| PluginProblem::Missing(format!("{}: {e}", path.display())))?;
            let actual = sha256_hex(&bytes);
            if let Some(expected) = sha256
                && *expected != actual
            {
                return Err(PluginProblem::Sha256Mismatch {
                    expected: expected.clone(),
                    actual,
                });
            }
            Ok(Resolved {
                label: path.display().to_string(),
                bytes: Cow::Owned(bytes),
                sha256: actual,
            })
        }
    }
}

/// Resolves and loads a plugin into the engine.
pub fn load(
    engine: &WasmEngine,
    plugin: &PluginRef,
) -> Result<(Resolved, Arc<LoadedPlugin>), PluginProblem> {
    let resolved = resolve(plugin)?;
    let loaded = engine
        .load_hashed(&resolved.sha256, &resolved.bytes)
        .map_err(|e| match e {
            LoadError::Invalid(_) | LoadError::WrongWorld(_) | LoadError::NotAPolicy(_) => {
                PluginProblem::NotAStep(e.to_string())
            }
        })?;
    Ok((resolved, loaded))
}

/// Limits for `describe`: it should answer at once.
const DESCRIBE_LIMITS: StepLimits = StepLimits {
    memory: 64 << 20,
    fuel: None,
    output: 1 << 20,
    timeout: Duration::from_secs(5),
};

/// `describe` of a step runs within [`DESCRIBE_LIMITS`] and the step's own: its
/// deadline, memory cap and fuel when they are tighter.
pub fn describe_limits(step: &StepLimits) -> StepLimits {
    StepLimits {
        memory: DESCRIBE_LIMITS.memory.min(step.memory),
        fuel: step.fuel,
        output: DESCRIBE_LIMITS.output,
        timeout: DESCRIBE_LIMITS.timeout.min(step.timeout),
    }
}

/// Asks a loaded plugin to describe itself for these parameters.
pub async fn describe(
    engine: &WasmEngine,
    plugin: &LoadedPlugin,
    params: &String,
    limits: &StepLimits,
) -> Result<PluginInfo, PluginProblem> {
    let host = StepHost::new(
        "describe".into(),
        Arc::new(Recorder::detached()),
        Default::default(),
        Default::default(),
    );
    match outcome::call(engine, plugin, host, limits, Call::Describe(params))
        .await
        .0
    {
        Ok(Returned::Description(d)) => Ok(PluginInfo {
            outputs: Some(d.outputs.into_iter().collect::<BTreeSet<_>>()),
        }),
        Ok(_) => Err(PluginProblem::Invalid("describe returned nothing".into())),
        Err(f) if f.kind == "invalid" => Err(PluginProblem::Invalid(f.message)),
        Err(f) => Err(PluginProblem::NotAStep(format!(
            "describe failed: {}",
            f.message
        ))),
    }
}

/// The catalog `Workflow::check_plugins` consults. Must be used from inside a
/// multi-threaded tokio runtime: `describe` runs the plugin.
pub struct Catalog<'a> {
    pub engine: &'a WasmEngine,
}

impl PluginCatalog for Catalog<'_> {
    fn builtins(&self) -> Vec<String> {
        builtins().iter().map(|(n, _, _)| n.to_string()).collect()
    }

    fn inspect(&self, step: &runner_workflow::Step) -> Result<PluginInfo, PluginProblem> {
        let (_, loaded) = load(self.engine, &step.plugin)?;
        let params = step.with.to_string();
        let limits = describe_limits(&StepLimits::new(&step.limits, step.timeout));
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(describe(
                self.engine,
                &loaded,
                &params,
                &limits,
            ))
        })
    }
}
