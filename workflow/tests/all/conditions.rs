//! `if` conditions as the engine evaluates them, and their positions in the file.

use std::collections::BTreeMap;

use runner_workflow::Context;
use serde_json::{Map, json};

use crate::support::{parse, parse_with, problems};

const WORKFLOW: &str = r#"
name = "c"
[vars]
env = "prod"
[[steps]]
id = "check"
plugin = "echo"
[[steps]]
id = "deploy"
plugin = "echo"
if = "${vars.env} == 'prod' && !${steps.check.outputs.skip}"
"#;

#[test]
fn evaluates_against_vars_and_outputs() {
    let wf = parse(WORKFLOW);
    let condition = wf.step("deploy").unwrap().condition.clone().unwrap();
    let run = |skip: serde_json::Value, env: &str| {
        let mut check = Map::new();
        check.insert("skip".into(), skip);
        let outputs = BTreeMap::from([("check".to_owned(), check)]);
        let vars = BTreeMap::from([("env".to_owned(), json!(env))]);
        condition
            .eval(&Context {
                vars: &vars,
                outputs: &outputs,
            })
            .unwrap()
    };
    assert!(run(json!(false), "prod"));
    assert!(!run(json!(true), "prod"));
    assert!(!run(json!(false), "dev"));
    assert!(run(json!("false"), "prod"));
    assert!(run(json!(0), "prod"));
    assert!(run(json!(""), "prod"));
    assert!(run(json!(null), "prod"));
    assert!(!run(json!("yes"), "prod"));
    assert!(!run(json!([]), "prod"));
}

#[test]
fn a_condition_implies_a_dependency() {
    let wf = parse(WORKFLOW);
    assert!(wf.step("deploy").unwrap().needs.contains("check"));
}

#[test]
fn an_evaluation_error_names_the_step() {
    let wf = parse(WORKFLOW);
    let condition = wf.step("deploy").unwrap().condition.clone().unwrap();
    let err = condition
        .eval(&Context {
            vars: &wf.vars,
            outputs: &BTreeMap::new(),
        })
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "step `deploy`: `${steps.check.outputs.skip}`: step `check` has produced no outputs (it has not run, or was skipped)"
    );
}

#[test]
fn syntax_errors_in_literal_and_multiline_strings_keep_their_column() {
    let report = parse_with(
        "name = \"c\"\n[[steps]]\nid = \"a\"\nplugin = \"echo\"\nif = '''\n  true &&\n  (false || )'''\n",
        &[],
    )
    .unwrap_err();
    assert_eq!(
        problems(&report),
        [(
            7,
            13,
            "invalid condition in step `a`: expected a value, found `)`".to_owned()
        )]
    );
}

#[test]
fn an_over_deep_condition_is_a_diagnostic() {
    let source = format!(
        "name = \"c\"\n[[steps]]\nid = \"a\"\nplugin = \"echo\"\nif = \"{}true{}\"\n",
        "(".repeat(40),
        ")".repeat(40)
    );
    let report = parse_with(&source, &[]).unwrap_err();
    assert_eq!(
        problems(&report),
        [(
            5,
            39,
            "invalid condition in step `a`: condition nests deeper than 32 levels".to_owned()
        )]
    );
}
