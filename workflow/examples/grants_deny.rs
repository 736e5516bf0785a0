//! How long the grant check of a denied capability call takes, message included: the
//! host-side cost a plugin pays for an out-of-grant call before anything reaches a
//! cloud. The goal is at most 5 µs per call.
//!
//! `cargo run --release -p runner-workflow --example grants_deny`
//!
//! A measurement to read, not a test: nothing here fails on a slow machine.

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use runner_workflow::Workflow;

const WORKFLOW: &str = r#"
name = "deny"
[clusters.primary]
region = "us-east-1"
[clusters.secondary]
region = "us-east-2"
[[steps]]
id = "lbc"
plugin = "echo"
[steps.grants]
kubernetes = [
  { clusters = ["primary", "secondary"], namespaces = ["kube-system"], kinds = ["Deployment", "ServiceAccount", "ClusterRole"], verbs = ["get", "list", "apply", "patch", "delete", "wait"] },
  { clusters = ["primary"], namespaces = ["app", "monitoring"], kinds = ["*"], verbs = ["get", "list"] },
]
route53 = { zones = ["example.com"], records = ["multi-region.example.com", "*.internal.example.com"] }
global_accelerator = { accelerators = ["name:failover-demo", "tag:team=platform"], create = true }
elbv2 = { regions = ["us-east-1", "us-east-2"] }
probe = { hosts = ["*.awsglobalaccelerator.com", "127.0.0.1"] }
"#;

const CALLS: u32 = 1_000_000;

fn main() {
    let workflow = Workflow::parse(Path::new("deny.toml"), WORKFLOW, &[])
        .unwrap_or_else(|report| panic!("{report}"));
    let grant = &workflow.steps[0].grant;
    let tags = [("team".to_owned(), "web".to_owned())];

    let measure = |name: &str, call: &dyn Fn() -> bool| {
        let start = Instant::now();
        let mut denied = 0u32;
        for _ in 0..CALLS {
            denied += u32::from(black_box(call()));
        }
        let per_call = start.elapsed().as_nanos() as f64 / f64::from(CALLS);
        assert_eq!(denied, CALLS, "{name}: every call must be denied");
        println!("{name:<12} {per_call:>8.0} ns per denied call");
    };
    measure("kubernetes", &|| {
        grant
            .kubernetes(black_box("primary"), Some("default"), "Deployment", "apply")
            .is_err()
    });
    measure("route53", &|| {
        grant
            .route53(black_box("example.com"), Some("www.example.com"))
            .is_err()
    });
    measure("accelerator", &|| {
        grant
            .accelerator(black_box(Some("other")), &tags, true)
            .is_err()
    });
    measure("elbv2", &|| grant.elbv2(black_box("eu-west-1")).is_err());
    measure("probe", &|| {
        grant.probe(black_box("169.254.169.254")).is_err()
    });
    measure("identity", &|| grant.identity().is_err());
}
