//! `[sandbox]`: the hosted zones `--cloud sandbox` creates before the first step.

use runner_workflow::SandboxPrereqs;

use crate::support::{parse, parse_with, problems};

const STEP: &str = "[[steps]]\nid = \"a\"\nplugin = \"echo\"\n";
const ZONE_NAME_HELP: &str = "a hosted zone is a domain name such as `example.com`: labels of letters, digits and `-`, each at most 63 characters, 253 in all";

#[test]
fn zones_are_substituted_normalized_and_listed_once() {
    let source = format!(
        "name = \"s\"\n[vars]\ndomain = \"example.com\"\n[sandbox]\nhosted_zones = [\"${{vars.domain}}\", \"Blog.${{vars.domain}}.\", \"EXAMPLE.com.\"]\n{STEP}"
    );
    let wf = parse(&source);
    assert_eq!(
        wf.sandbox,
        SandboxPrereqs {
            hosted_zones: vec!["example.com".into(), "blog.example.com".into()]
        }
    );
    let wf = parse_with(&source, &[("domain", "Example.ORG")]).unwrap();
    assert_eq!(
        wf.sandbox.hosted_zones,
        ["example.org", "blog.example.org", "example.com"]
    );
}

#[test]
fn no_sandbox_table_means_no_prerequisites() {
    let wf = parse(&format!("name = \"s\"\n{STEP}"));
    assert_eq!(wf.sandbox, SandboxPrereqs::default());
    assert!(wf.sandbox.hosted_zones.is_empty());
    let wf = parse(&format!("name = \"s\"\n[sandbox]\n{STEP}"));
    assert!(wf.sandbox.hosted_zones.is_empty());
}

#[test]
fn a_name_may_have_253_characters_without_its_trailing_dot() {
    let label = "a".repeat(63);
    let longest = format!("{label}.{label}.{label}.{}", "b".repeat(61));
    assert_eq!(longest.len(), 253);
    let wf = parse(&format!(
        "name = \"s\"\n[sandbox]\nhosted_zones = [\"{longest}.\"]\n{STEP}"
    ));
    assert_eq!(wf.sandbox.hosted_zones, [longest.as_str()]);

    let report = parse_with(
        &format!("name = \"s\"\n[sandbox]\nhosted_zones = [\"x{longest}\"]\n{STEP}"),
        &[],
    )
    .unwrap_err();
    assert_eq!(
        problems(&report),
        [(
            3,
            17,
            format!("invalid hosted zone `x{longest}` in `hosted_zones` of [sandbox]")
        )]
    );
    assert_eq!(
        report.diagnostics()[0].help.as_deref(),
        Some(ZONE_NAME_HELP)
    );
}

#[test]
fn the_table_and_its_list_have_their_types_and_may_not_be_empty() {
    let report = parse_with(
        &format!("name = \"s\"\nsandbox = [\"example.com\"]\n{STEP}"),
        &[],
    )
    .unwrap_err();
    assert_eq!(
        problems(&report),
        [(
            2,
            11,
            "wrong type for `sandbox`: expected a table, found an array".to_owned()
        )]
    );

    let report = parse_with(
        &format!("name = \"s\"\n[sandbox]\nhosted_zones = []\n{STEP}"),
        &[],
    )
    .unwrap_err();
    assert_eq!(
        problems(&report),
        [(3, 16, "`hosted_zones` in [sandbox] is empty".to_owned())]
    );
    assert_eq!(
        report.diagnostics()[0].help.as_deref(),
        Some("list the hosted zones the sandbox must hold, or remove `hosted_zones`")
    );
}
