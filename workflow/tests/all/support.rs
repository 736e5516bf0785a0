//! Shared helpers: a fake plugin catalog and shortcuts for parsing test workflows.

use std::collections::BTreeSet;
use std::path::Path;

use runner_workflow::{
    PluginCatalog, PluginInfo, PluginProblem, PluginRef, Report, Step, Workflow,
};

/// The digest the fake catalog reports for every plugin file.
pub const FILE_DIGEST: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

/// Built-ins `echo` (declares output `message`), `assert` (declares none) and `sleep`
/// (declares no outputs at all); `echo` rejects a `with` that has a `reject` key. Plugin
/// files exist unless named `missing.wasm`; `wrong-world.wasm` is not a step component;
/// every file's digest is [`FILE_DIGEST`].
pub struct FakeCatalog;

impl PluginCatalog for FakeCatalog {
    fn builtins(&self) -> Vec<String> {
        vec!["echo".into(), "assert".into(), "sleep".into()]
    }

    fn inspect(&self, step: &Step) -> Result<PluginInfo, PluginProblem> {
        let (plugin, with) = (&step.plugin, &step.with);
        match plugin {
            PluginRef::Builtin(name) => match name.as_str() {
                "echo" if with.get("reject").is_some() => {
                    Err(PluginProblem::Invalid("unknown field `reject`".into()))
                }
                "echo" => Ok(PluginInfo {
                    outputs: Some(BTreeSet::from(["message".to_owned()])),
                }),
                "sleep" => Ok(PluginInfo {
                    outputs: Some(BTreeSet::new()),
                }),
                "assert" => Ok(PluginInfo { outputs: None }),
                _ => Err(PluginProblem::UnknownBuiltin),
            },
            PluginRef::File { path, sha256 } => {
                let name = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default();
                if name == "missing.wasm" {
                    return Err(PluginProblem::Missing(
                        "No such file or directory (os error 2)".into(),
                    ));
                }
                if let Some(expected) = sha256.as_ref().filter(|s| s.as_str() != FILE_DIGEST) {
                    return Err(PluginProblem::Sha256Mismatch {
                        expected: expected.clone(),
                        actual: FILE_DIGEST.into(),
                    });
                }
                if name == "wrong-world.wasm" {
                    return Err(PluginProblem::NotAStep(
                        "it exports `decide`, not `run` and `destroy`".into(),
                    ));
                }
                Ok(PluginInfo {
                    outputs: Some(BTreeSet::from(["arn".to_owned(), "dns-name".to_owned()])),
                })
            }
        }
    }
}

/// Parses inline workflow text as `w.toml`, panicking with the rendered report on error.
pub fn parse(source: &str) -> Workflow {
    parse_with(source, &[]).unwrap_or_else(|report| panic!("{report}"))
}

/// Parses inline workflow text as `w.toml` with `--var` overrides.
pub fn parse_with(source: &str, overrides: &[(&str, &str)]) -> Result<Workflow, Report> {
    let overrides: Vec<(String, String)> = overrides
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
    Workflow::parse(Path::new("w.toml"), source, &overrides)
}

/// The problems of a failed parse as `(line, col, message)`.
pub fn problems(report: &Report) -> Vec<(usize, usize, String)> {
    report
        .diagnostics()
        .iter()
        .map(|d| (d.line, d.col, d.message.clone()))
        .collect()
}
