//! `${...}` substitution in a step's `with`, as the engine calls it.

use std::collections::BTreeMap;
use std::path::Path;

use runner_workflow::{Context, RenderError, Workflow};
use serde_json::{Map, Value, json};

use crate::support::parse;

fn outputs(entries: &[(&str, Value)]) -> BTreeMap<String, Map<String, Value>> {
    entries
        .iter()
        .map(|(step, values)| {
            (
                (*step).to_owned(),
                values.as_object().cloned().expect("an object"),
            )
        })
        .collect()
}

#[test]
fn whole_references_keep_their_type_and_embedded_ones_become_text() {
    let wf = Workflow::load(Path::new("tests/good/every-key.toml"), &[]).unwrap();
    let outputs = outputs(&[("check", json!({"message": {"ok": true}, "skip": false}))]);
    let ctx = Context {
        vars: &wf.vars,
        outputs: &outputs,
    };
    let build = wf.step("build").unwrap();
    assert_eq!(
        wf.render_with(build, &ctx).unwrap(),
        json!({
            "replicas": 2,
            "url": "https://multi-region.example.com/",
            "nested": {"list": [{"ok": true}, 1, 2.5, true], "literal": "${not.a.ref}"},
        })
    );
}

#[test]
fn every_json_type_is_stringified_compactly_inside_text() {
    let wf = parse(
        r#"
name = "s"
[vars]
n = 3
f = 0.25
b = true
s = "text"
[[steps]]
id = "a"
plugin = "echo"
[[steps]]
id = "b"
plugin = "echo"
with = { all = "${vars.n}|${vars.f}|${vars.b}|${vars.s}|${steps.a.outputs.obj}|${steps.a.outputs.list}|${steps.a.outputs.none}", keys = { "${vars.s}" = "${vars.b}" } }
"#,
    );
    let outputs = outputs(&[(
        "a",
        json!({"obj": {"k": "v"}, "list": [1, "two"], "none": null}),
    )]);
    let ctx = Context {
        vars: &wf.vars,
        outputs: &outputs,
    };
    assert_eq!(
        wf.render_with(wf.step("b").unwrap(), &ctx).unwrap(),
        json!({"all": "3|0.25|true|text|{\"k\":\"v\"}|[1,\"two\"]|null", "keys": {"${vars.s}": true}})
    );
}

/// The string is read left to right, so `$$${` is a lone `$` followed by the escape `$${`.
#[test]
fn escaped_dollar_braces_stay_literal_and_lone_dollars_are_untouched() {
    let wf = parse(
        "name = \"e\"\n[vars]\nx = 1\n[[steps]]\nid = \"a\"\nplugin = \"echo\"\nwith = { a = \"$${vars.x}\", b = \"$$${vars.x}\", c = \"cost: $5 ${vars.x}$\" }\n",
    );
    let ctx = Context {
        vars: &wf.vars,
        outputs: &BTreeMap::new(),
    };
    assert_eq!(
        wf.render_with(&wf.steps[0], &ctx).unwrap(),
        json!({"a": "${vars.x}", "b": "$${vars.x}", "c": "cost: $5 1$"})
    );
}

#[test]
fn overrides_flow_into_rendering() {
    let wf = crate::support::parse_with(
        "name = \"o\"\n[vars]\nreplicas = 2\n[[steps]]\nid = \"a\"\nplugin = \"echo\"\nwith = { n = \"${vars.replicas}\" }\n",
        &[("replicas", "5")],
    )
    .unwrap();
    let ctx = Context {
        vars: &wf.vars,
        outputs: &BTreeMap::new(),
    };
    assert_eq!(wf.render_with(&wf.steps[0], &ctx).unwrap(), json!({"n": 5}));
}

#[test]
fn a_missing_output_at_run_time_names_step_reference_and_output() {
    let wf = Workflow::load(Path::new("tests/good/every-key.toml"), &[]).unwrap();
    let deploy = wf.step("deploy").unwrap();
    let produced = outputs(&[("build", json!({"dns-name": "a.example"}))]);
    let err = wf
        .render_with(
            deploy,
            &Context {
                vars: &wf.vars,
                outputs: &produced,
            },
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "step `deploy`: `${steps.build.outputs.arn}`: step `build` produced no output `arn`"
    );
    assert!(matches!(err, RenderError::Missing { ref step, .. } if step == "deploy"));

    let err = wf
        .render_with(
            deploy,
            &Context {
                vars: &wf.vars,
                outputs: &BTreeMap::new(),
            },
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "step `deploy`: `${steps.build.outputs.arn}`: step `build` has produced no outputs (it has not run, or was skipped)"
    );
}
