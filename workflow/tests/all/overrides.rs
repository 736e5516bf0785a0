//! `--var` overrides through `Workflow::parse`.

use serde_json::json;

use crate::support::parse_with;

const WORKFLOW: &str = "name = \"o\"\n[vars]\ndomain = \"example.com\"\nreplicas = 2\n[[steps]]\nid = \"a\"\nplugin = \"echo\"\n";

#[test]
fn an_override_replaces_the_default_with_the_declared_type() {
    let wf = parse_with(WORKFLOW, &[("replicas", "3"), ("domain", "example.org")]).unwrap();
    assert_eq!(
        json!(wf.vars),
        json!({"domain": "example.org", "replicas": 3})
    );
}

#[test]
fn undeclared_and_mistyped_overrides_are_reported_without_a_position() {
    let report = parse_with(WORKFLOW, &[("domian", "x"), ("replicas", "three")]).unwrap_err();
    assert_eq!(
        report.to_string(),
        "error: `--var domian=x`: no variable `domian` is declared\n --> w.toml\n  = help: did you mean `domain`?\n\n\
         error: `--var replicas=three`: variable `replicas` is an integer\n --> w.toml\n\n\
         error: 2 problems in w.toml"
    );
    assert!(
        report
            .diagnostics()
            .iter()
            .all(|d| (d.line, d.col) == (0, 0))
    );
}

#[test]
fn override_problems_come_after_problems_in_the_file() {
    let report = parse_with(
        "name = 1\n[[steps]]\nid = \"a\"\nplugin = \"echo\"\n",
        &[("x", "1")],
    )
    .unwrap_err();
    let lines: Vec<usize> = report.diagnostics().iter().map(|d| d.line).collect();
    assert_eq!(lines, [1, 0]);
}
