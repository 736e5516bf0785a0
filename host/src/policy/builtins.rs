//! Where a policy comes from: a built-in (embedded at build time from
//! `plugins/policies/<name>`) or a component file, optionally pinned by sha256.

use std::borrow::Cow;

use runner_workflow::{PluginProblem, PluginRef};

use crate::engine::sha256_hex;
use crate::plugins::Resolved;

use crate::plugins::embedded;

/// The built-in policies: name, one-line description, component bytes.
pub fn policies() -> &'static [(&'static str, &'static str, &'static [u8])] {
    embedded::POLICIES
}

/// The routing-policy template crate's files, for `runner policy new`.
pub fn template_files() -> &'static [(&'static str, &'static str)] {
    embedded::TEMPLATE_FILES
}

/// The WIT files of the plugin contract, written beside a new policy crate.
pub fn wit_files() -> &'static [(&'static str, &'static str)] {
    embedded::WIT_FILES
}

/// How a command line names a policy: a path when it has a `/` or ends in `.wasm`.
pub fn policy_ref(text: &str) -> PluginRef {
    if text.contains('/') || text.ends_with(".wasm") {
        PluginRef::File {
            path: text.into(),
            sha256: None,
        }
    } else {
        PluginRef::Builtin(text.into())
    }
}

/// A policy's bytes, found and checked; the error names what was wrong.
pub fn resolve(policy: &PluginRef) -> Result<Resolved, String> {
    match policy {
        PluginRef::Builtin(name) => {
            let (_, _, bytes) = policies()
                .iter()
                .find(|(n, _, _)| n == name)
                .ok_or_else(|| {
                    let names: Vec<&str> = policies().iter().map(|(n, _, _)| *n).collect();
                    format!(
                        "no built-in policy `{name}` (built-ins: {}; a file is named by a path ending in .wasm)",
                        names.join(", ")
                    )
                })?;
            Ok(Resolved {
                label: name.clone(),
                bytes: Cow::Borrowed(*bytes),
                sha256: sha256_hex(bytes),
            })
        }
        PluginRef::File { path, .. } => crate::plugins::resolve(policy).map_err(|e| match e {
            PluginProblem::Missing(why) => format!("cannot read the policy file {why}"),
            PluginProblem::Sha256Mismatch { expected, actual } => format!(
                "policy {} has sha256 {actual}, not the pinned {expected}",
                path.display()
            ),
            other => format!("policy {}: {other:?}", path.display()),
        }),
    }
}
