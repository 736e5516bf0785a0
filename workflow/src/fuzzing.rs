//! Fuzzing entry points, not an API: one function per fuzz target of this crate (see
//! `fuzz/README.md`). Each takes arbitrary bytes, may meet errors, and must never panic;
//! the checks inside are properties every input must keep. They are plain functions so
//! `fuzz/fuzz_targets/` calls them under libFuzzer and the committed corpora replay as
//! ordinary tests on stable Rust (the tests at the end of this file).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::{Map, json};

use crate::condition::Condition;
use crate::template::{self, Context, Files, Piece};
use crate::{PluginCatalog, PluginInfo, PluginProblem, PluginRef, Workflow};

/// A fuzz target's body: any bytes in, never a panic.
pub type Body = fn(&[u8]);

/// This crate's fuzz targets: the name of the target (its file in `fuzz/fuzz_targets/`
/// and its corpus in `fuzz/corpus/`) and its body.
pub const TARGETS: &[(&str, Body)] = &[
    ("workflow_load", workflow_load),
    ("template", template),
    ("condition", condition),
];

/// The workflow loader: TOML text to a validated workflow, then everything the engine
/// does with one before running it (order, plugin checks, rendering, conditions).
pub fn workflow_load(data: &[u8]) {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    // A directory that does not exist: `${file:...}` and plugin paths resolve against
    // it and fail, so no input reads the machine's files.
    let path = Path::new("/nonexistent-runner-fuzz/workflow.toml");
    let workflow = match Workflow::parse(path, source, &[]) {
        Ok(workflow) => workflow,
        Err(report) => {
            assert!(
                !report.diagnostics().is_empty(),
                "a report without problems"
            );
            let _ = report.to_string();
            return;
        }
    };
    let order: BTreeSet<&str> = workflow.order().iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        order.len(),
        workflow.steps.len(),
        "order lists each step once"
    );
    if let Err(report) = workflow.check_plugins(&EveryBuiltin) {
        assert!(
            !report.diagnostics().is_empty(),
            "a report without problems"
        );
        let _ = report.to_string();
    }
    let outputs = BTreeMap::from([("fuzz".to_owned(), Map::new())]);
    let ctx = Context {
        vars: &workflow.vars,
        outputs: &outputs,
    };
    for step in &workflow.steps {
        let _ = workflow.render_with(step, &ctx);
        if let Some(condition) = &step.condition {
            let _ = condition.eval(&ctx);
        }
    }
}

/// A catalog in which every built-in exists, declares no outputs and accepts any `with`.
struct EveryBuiltin;

impl PluginCatalog for EveryBuiltin {
    fn builtins(&self) -> Vec<String> {
        vec!["echo".into()]
    }

    fn inspect(&self, step: &crate::Step) -> Result<PluginInfo, PluginProblem> {
        match &step.plugin {
            PluginRef::Builtin(_) => Ok(PluginInfo {
                outputs: Some(BTreeSet::from(["message".to_owned()])),
            }),
            PluginRef::File { .. } => Err(PluginProblem::Missing("fuzzing reads no files".into())),
        }
    }
}

/// The values fuzzed templates and conditions resolve against: a few variables of each
/// JSON type and the outputs of step `s`.
fn with_context<T>(f: impl FnOnce(&Context<'_>) -> T) -> T {
    let vars = BTreeMap::from([
        ("s".to_owned(), json!("text")),
        ("n".to_owned(), json!(1)),
        ("f".to_owned(), json!(0.5)),
        ("t".to_owned(), json!(true)),
        ("e".to_owned(), json!("")),
        ("o".to_owned(), json!({"k": [1, null]})),
    ]);
    let mut s = Map::new();
    s.insert("k".into(), json!("v"));
    s.insert("z".into(), json!(0));
    let outputs = BTreeMap::from([("s".to_owned(), s)]);
    f(&Context {
        vars: &vars,
        outputs: &outputs,
    })
}

/// `${...}` interpolation: splitting a string into text and references, then rendering.
pub fn template(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(pieces) = template::parse(text) else {
        let rendered =
            with_context(|ctx| template::render_str(text, "fuzz", ctx, &Files::default()));
        assert!(rendered.is_err(), "a string that does not parse rendered");
        return;
    };
    for piece in &pieces {
        if let Piece::Ref(reference, range) = piece {
            let written = text
                .get(range.clone())
                .expect("a reference's range is in the text");
            assert!(
                written.starts_with("${") && written.ends_with('}'),
                "the range {range:?} of {reference} is {written:?}"
            );
            let (again, end) = template::parse_reference(text, range.start)
                .expect("a reference parses again from its range");
            assert_eq!((&again, end), (reference, range.end));
        }
    }
    let _ = with_context(|ctx| template::render_str(text, "fuzz", ctx, &Files::default()));
}

/// `if` conditions: parsing, the references they make, and evaluation.
pub fn condition(data: &[u8]) {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(condition) = Condition::parse(source, "fuzz") else {
        return;
    };
    assert_eq!(condition.source(), source);
    for (reference, range) in condition.references() {
        let written = source
            .get(range.clone())
            .expect("a reference's range is in the source");
        assert!(
            written.starts_with("${") && written.ends_with('}'),
            "the range {range:?} of {reference} is {written:?}"
        );
    }
    let _ = with_context(|ctx| condition.eval(ctx));
}

/// Replays every input of each target's corpus (`fuzz/corpus/<name>/`) through its
/// body, re-raising the first panic with the input's path; a target without a corpus,
/// or with an empty one, fails. Each crate with fuzz targets replays its `TARGETS`
/// through this in its tests, so CI catches regressions on stable Rust.
pub fn replay_corpora(targets: &[(&str, Body)]) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    for (name, body) in targets {
        let dir = root.join(name);
        let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("fuzz target {name} has no corpus {}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "fuzz target {name} has an empty corpus");
        for file in &files {
            let data = std::fs::read(file).unwrap();
            if let Err(panic) = std::panic::catch_unwind(|| body(&data)) {
                eprintln!("fuzz target {name}: input {} panicked", file.display());
                std::panic::resume_unwind(panic);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_fuzz_corpus_replays_without_a_panic() {
        super::replay_corpora(super::TARGETS);
    }
}
