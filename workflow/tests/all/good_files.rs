//! The happy path: a file that uses every key parses into exactly what it says.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use runner_workflow::{
    CloudConfig, DialGuard, Grants, Limits, PluginRef, PolicyProbe, Retry, SandboxPrereqs, Workflow,
};
use serde_json::json;

use crate::support::{FILE_DIGEST, FakeCatalog};

pub fn every_key() -> Workflow {
    Workflow::load(Path::new("tests/good/every-key.toml"), &[])
        .unwrap_or_else(|report| panic!("{report}"))
}

#[test]
fn top_level_keys_are_read() {
    let wf = every_key();
    assert_eq!(wf.file, Path::new("tests/good/every-key.toml"));
    assert_eq!(wf.name, "every-key");
    assert_eq!(
        wf.description.as_deref(),
        Some("A workflow that touches every key.")
    );
    assert_eq!(
        json!(wf.vars),
        json!({"domain": "example.com", "env": "prod", "replicas": 2, "ratio": 0.5, "debug": false})
    );
    assert_eq!(
        wf.clusters,
        json!({
            "primary": {"region": "us-east-1", "cluster": "multi-region-blog", "context": "kind-primary"},
            "secondary": {"region": "us-east-2"},
        })
    );
    assert_eq!(
        wf.aws,
        json!({"profile": "demo", "account": "012345678901", "regions": ["us-east-1", "us-east-2"]})
    );
    let policy = wf.policy.as_ref().expect("[policy] is parsed");
    assert_eq!(policy.plugin, PluginRef::Builtin("latency".into()));
    assert_eq!(
        policy.accelerator,
        format!("multi-region-{}", wf.vars["domain"].as_str().unwrap())
    );
    assert_eq!(policy.every, Duration::from_secs(5));
    assert_eq!(
        policy.with,
        json!({"bound_ms": 250, "baseline": {"us-east-1": 100}, "note": format!("for {}", wf.vars["domain"].as_str().unwrap())})
    );
    assert_eq!(
        policy.probe,
        PolicyProbe {
            path: "/healthz".into(),
            samples: 2,
            timeout: Duration::from_secs(1),
            window: 4,
            enabled: true
        }
    );
    assert_eq!(
        policy.grants.global_accelerator[0].guard,
        DialGuard {
            max_step: Some(25.0),
            min: Some(10.0),
            max: None,
            regions: vec!["us-east-1".into()]
        }
    );
    assert_eq!(
        wf.sandbox,
        SandboxPrereqs {
            hosted_zones: vec!["example.com".into(), "blog.example.com".into()]
        }
    );
    let ids: Vec<&str> = wf.steps.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["check", "build", "deploy", "notify"]);
}

#[test]
fn a_step_with_every_key() {
    let wf = every_key();
    let build = wf.step("build").unwrap();
    assert_eq!(
        build.plugin,
        PluginRef::File {
            path: PathBuf::from("tests/good/plugins/build.wasm"),
            sha256: Some(FILE_DIGEST.into())
        }
    );
    assert_eq!(build.needs, BTreeSet::from(["check".to_owned()]));
    assert_eq!(
        build.with,
        json!({
            "replicas": "${vars.replicas}",
            "url": "https://multi-region.${vars.domain}/",
            "nested": {"list": ["${steps.check.outputs.message}", 1, 2.5, true], "literal": "$${not.a.ref}"},
        })
    );
    assert_eq!(
        build.grants["global_accelerator"],
        json!({"accelerators": ["name:failover-demo", "tag:team=platform", "*"], "create": true})
    );
    assert_eq!(build.grants["identity"], json!(true));
    assert_eq!(build.timeout, Some(Duration::from_secs(90)));
    assert_eq!(
        build.retry,
        Retry {
            attempts: 3,
            backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(10)
        }
    );
    assert_eq!(
        build.limits,
        Limits {
            memory: Some(64 << 20),
            fuel: Some(1_000_000),
            output: Some(1_000_000)
        }
    );
    assert_eq!(
        build.condition.as_ref().map(|c| c.source()),
        Some("${vars.env} == 'prod' && !${steps.check.outputs.skip}")
    );
    assert_eq!(build.line, 39);
}

#[test]
fn omitted_keys_take_their_defaults() {
    let wf = every_key();
    let notify = wf.step("notify").unwrap();
    assert_eq!(notify.plugin, PluginRef::Builtin("echo".into()));
    assert!(notify.needs.is_empty());
    assert_eq!(notify.grants, json!({}));
    assert!(notify.grant.is_empty());
    assert_eq!(notify.grant, Grants::default());
    assert_eq!(notify.grant.summary(), Vec::<String>::new());
    assert_eq!(notify.timeout, None);
    assert_eq!(notify.retry, Retry::default());
    assert_eq!(
        Retry::default(),
        Retry {
            attempts: 1,
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30)
        }
    );
    assert_eq!(notify.limits, Limits::default());
    assert!(notify.condition.is_none());
    assert_eq!(
        wf.step("deploy").unwrap().timeout,
        Some(Duration::from_secs(30))
    );

    let minimal = crate::support::parse("name = \"m\"\n[[steps]]\nid = \"a\"\nplugin = \"echo\"\n");
    assert_eq!(minimal.description, None);
    assert!(minimal.vars.is_empty());
    assert_eq!(
        (
            minimal.clusters.is_null(),
            minimal.aws.is_null(),
            minimal.policy.is_none()
        ),
        (true, true, true)
    );
    assert_eq!(minimal.steps[0].with, json!({}));
    assert_eq!(minimal.cloud, CloudConfig::default());
    assert_eq!(minimal.sandbox, SandboxPrereqs::default());
    assert!(minimal.cloud.regions().is_empty());
}

#[test]
fn passes_the_plugin_checks() {
    every_key()
        .check_plugins(&FakeCatalog)
        .unwrap_or_else(|report| panic!("{report}"));
}

#[test]
fn a_long_backoff_without_a_cap_raises_the_cap() {
    let wf = crate::support::parse(
        "name = \"r\"\n[[steps]]\nid = \"a\"\nplugin = \"echo\"\nretry = { attempts = 4, backoff = \"1m\" }\n",
    );
    let retry = &wf.steps[0].retry;
    assert_eq!(
        (retry.backoff, retry.max_backoff),
        (Duration::from_secs(60), Duration::from_secs(60))
    );
    assert_eq!(retry.delay(3), Duration::from_secs(60));
}
