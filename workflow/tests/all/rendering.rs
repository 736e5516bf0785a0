//! The exact human rendering of a report, and its JSON form.

use std::path::Path;

use runner_workflow::Workflow;
use serde_json::json;

#[test]
fn a_full_report_renders_like_rustc() {
    let report = Workflow::load(Path::new("tests/bad/unknown-needs.toml"), &[]).unwrap_err();
    assert_eq!(
        report.to_string(),
        "error: step `deploy` needs unknown step `buld`
  --> tests/bad/unknown-needs.toml:10:10
   |
10 | needs = [\"buld\", \"build\", \"zzz\"]
   |          ^^^^^^
   = help: did you mean `build`?

error: step `deploy` needs unknown step `zzz`
  --> tests/bad/unknown-needs.toml:10:27
   |
10 | needs = [\"buld\", \"build\", \"zzz\"]
   |                           ^^^^^

error: 2 problems in tests/bad/unknown-needs.toml"
    );
}

#[test]
fn the_brief_example_renders_exactly() {
    let report = Workflow::load(Path::new("tests/bad/unknown-key-in-step.toml"), &[]).unwrap_err();
    assert_eq!(
        report.to_string(),
        "error: unknown key `nedds` in step `deploy`
  --> tests/bad/unknown-key-in-step.toml:12:1
   |
12 | nedds = [\"a\"]
   | ^^^^^
   = help: did you mean `needs`?

error: 1 problem in tests/bad/unknown-key-in-step.toml"
    );
}

#[test]
fn the_json_form_carries_the_same_fields() {
    let report = Workflow::load(Path::new("tests/bad/step-needs-itself.toml"), &[]).unwrap_err();
    assert_eq!(
        report.to_json(),
        json!({
            "file": "tests/bad/step-needs-itself.toml",
            "count": 1,
            "diagnostics": [{
                "file": "tests/bad/step-needs-itself.toml",
                "line": 6, "col": 10,
                "message": "step `a` needs itself",
                "help": null,
            }],
        })
    );
    let _: &dyn std::error::Error = &report;
}

#[test]
fn every_bad_file_has_its_own_test() {
    let tests = include_str!("bad_files.rs");
    for entry in std::fs::read_dir("tests/bad").unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            tests.contains(&format!("\"{name}\"")),
            "tests/bad/{name} has no test in bad_files.rs"
        );
    }
}
