//! Fuzzing entry points, not an API: one function per fuzz target of this crate (see
//! `fuzz/README.md`). Each takes arbitrary bytes, may meet errors, and must never panic;
//! the checks inside are properties every input must keep. They are plain functions so
//! the corpora replay as ordinary tests on stable Rust (the tests at the end of this
//! file). This file uses nothing but the JSONPath and journal modules (and the events
//! the journal holds): the fuzz crate compiles it with them by `#[path]`, without
//! building the rest of runner (wasmtime, kube, the AWS SDK).

use std::path::Path;

use serde_json::Value;

use crate::capabilities::kubernetes::jsonpath;
use crate::state::journal::Journal;

/// A fuzz target's body: any bytes in, never a panic.
pub type Body = fn(&[u8]);

/// This crate's fuzz targets: the name of the target (its file in `fuzz/fuzz_targets/`
/// and its corpus in `fuzz/corpus/`) and its body.
pub const TARGETS: &[(&str, Body)] = &[("jsonpath", jsonpath), ("journal", journal)];

/// The JSONPath subset of `wait`: a path, a NUL byte, then the JSON object it is
/// evaluated against.
pub fn jsonpath(data: &[u8]) {
    let (text, object) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b"{}"[..]),
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let Ok(path) = jsonpath::parse(text) else {
        return;
    };
    assert_eq!(path.text, text);
    let object: Value = serde_json::from_slice(object).unwrap_or_default();
    let found = path.find(&object);
    assert_eq!(
        jsonpath::met(&path, None, &object),
        found.is_some_and(jsonpath::non_empty)
    );
    if let Some(value) = found {
        assert!(jsonpath::met(&path, Some(&jsonpath::text(value)), &object));
    }
    let _ = jsonpath::describe(&path, &object);
}

/// The journal reader: a journal file's bytes to its events, a torn last line
/// tolerated. What it keeps must read back the same, with nothing torn.
pub fn journal(data: &[u8]) {
    let path = Path::new("fuzz/journal.ndjson");
    let Ok(contents) = Journal::parse(path, data) else {
        return;
    };
    let valid = usize::try_from(contents.valid_len).expect("a length in memory");
    assert!(valid <= data.len());
    assert_eq!(
        contents.torn_tail,
        valid < data.len(),
        "torn_tail is what was cut"
    );
    let again = Journal::parse(path, &data[..valid]).expect("the complete lines read back");
    assert!(!again.torn_tail);
    assert_eq!(again.valid_len, contents.valid_len);
    assert_eq!(again.events.len(), contents.events.len());
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::{Path, PathBuf};

    use super::TARGETS;

    /// The fuzz project: `fuzz/` at the top of the repository.
    fn fuzz_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
    }

    /// The names of the entries of `dir` whose name ends in `suffix`, without it.
    fn names(dir: &Path, suffix: &str) -> BTreeSet<String> {
        std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter_map(|n| n.strip_suffix(suffix).map(str::to_owned))
            .collect()
    }

    #[test]
    fn every_fuzz_corpus_replays_without_a_panic() {
        runner_workflow::fuzzing::replay_corpora(TARGETS);
    }

    /// Every target in `fuzz/fuzz_targets/` is one of the three crates' `TARGETS` (so
    /// its corpus replays in that crate's tests), calls the body of that name, and has
    /// a corpus with at least one input; and every corpus belongs to a target.
    #[test]
    fn every_fuzz_target_has_a_corpus_and_a_replay() {
        let crates = [
            ("runner_workflow", runner_workflow::fuzzing::TARGETS),
            ("runner_sandbox", runner_sandbox::fuzzing::TARGETS),
            ("runner_fuzz", TARGETS),
        ];
        let mut replayed = BTreeSet::new();
        for (krate, targets) in crates {
            for (name, _) in targets {
                assert!(
                    replayed.insert(name.to_string()),
                    "two fuzz targets named {name}"
                );
                let target = fuzz_dir().join("fuzz_targets").join(format!("{name}.rs"));
                let source = std::fs::read_to_string(&target)
                    .unwrap_or_else(|e| panic!("{}: {e}", target.display()));
                let body = format!("{krate}::fuzzing::{name}(");
                assert!(
                    source.contains(&body),
                    "{} does not call {body}",
                    target.display()
                );
                let corpus = fuzz_dir().join("corpus").join(name);
                let inputs = std::fs::read_dir(&corpus)
                    .unwrap_or_else(|e| {
                        panic!("fuzz target {name} has no corpus {}: {e}", corpus.display())
                    })
                    .count();
                assert!(inputs > 0, "fuzz target {name} has an empty corpus");
            }
        }
        let targets = names(&fuzz_dir().join("fuzz_targets"), ".rs");
        assert_eq!(
            targets, replayed,
            "fuzz targets without a replay, or replays without a target"
        );
        let corpora = names(&fuzz_dir().join("corpus"), "");
        assert_eq!(corpora, replayed, "corpora without a fuzz target");
    }
}
