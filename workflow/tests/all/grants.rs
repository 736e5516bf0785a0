//! The typed cloud configuration and grants of tests/good/every-key.toml, and the grant
//! matrix: for each interface an allowed call passes and an out-of-grant call is denied
//! with the exact message the plugin and the audit log will see.

use std::collections::BTreeSet;

use runner_workflow::{
    AcceleratorGrant, AcceleratorSelector, AwsConfig, Cluster, Denied, Elbv2Grant, Grants,
    HostedZone, KubernetesGrant, ProbeGrant, Route53Grant,
};

use crate::good_files::every_key;

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// The grants of step `build` in every-key.toml.
fn build_grants() -> Grants {
    every_key().step("build").unwrap().grant.clone()
}

fn denied(result: Result<(), Denied>) -> String {
    let denied = result.expect_err("the call is out of its grant");
    assert_eq!(denied.to_string(), denied.missing);
    denied.missing
}

#[test]
fn clusters_and_aws_are_typed() {
    let wf = every_key();
    let cloud = &wf.cloud;
    assert_eq!(
        cloud.cluster("primary"),
        Some(&Cluster {
            region: "us-east-1".into(),
            cluster: "multi-region-blog".into(),
            context: Some("kind-primary".into()),
        })
    );
    // `cluster` defaults to the table's key, `context` to none.
    assert_eq!(
        cloud.cluster("secondary"),
        Some(&Cluster {
            region: "us-east-2".into(),
            cluster: "secondary".into(),
            context: None,
        })
    );
    assert_eq!(cloud.clusters.len(), 2);
    assert_eq!(
        cloud.aws,
        AwsConfig {
            profile: Some("demo".into()),
            account: Some("012345678901".into()),
            regions: Some(strings(&["us-east-1", "us-east-2"])),
        }
    );
    assert_eq!(cloud.regions(), BTreeSet::from(["us-east-1", "us-east-2"]));
    assert_eq!(cloud.aws.check_account("012345678901"), Ok(()));
    let wrong = cloud.aws.check_account("111111111111").unwrap_err();
    assert_eq!(
        wrong.to_string(),
        "refusing to touch AWS account 111111111111: the workflow declares account 012345678901 ([aws] account)"
    );
    assert_eq!(AwsConfig::default().check_account("111111111111"), Ok(()));
}

#[test]
fn regions_default_to_those_of_the_clusters() {
    let wf = crate::support::parse(
        "name = \"r\"\n[clusters.a]\nregion = \"eu-west-1\"\n[clusters.b]\nregion = \"eu-west-1\"\n\
         [clusters.c]\nregion = \"ap-south-1\"\n[[steps]]\nid = \"a\"\nplugin = \"echo\"\n",
    );
    assert_eq!(wf.cloud.aws, AwsConfig::default());
    assert_eq!(
        wf.cloud.regions(),
        BTreeSet::from(["ap-south-1", "eu-west-1"])
    );
}

#[test]
fn every_grant_is_typed_and_names_are_normalized() {
    let grants = build_grants();
    assert_eq!(
        grants,
        Grants {
            kubernetes: vec![
                KubernetesGrant {
                    clusters: strings(&["primary", "secondary"]),
                    namespaces: strings(&["kube-system"]),
                    kinds: strings(&["Deployment", "ServiceAccount", "ClusterRole"]),
                    verbs: strings(&["get", "list", "apply", "patch", "delete", "wait"]),
                },
                KubernetesGrant {
                    clusters: strings(&["*"]),
                    namespaces: strings(&["*"]),
                    kinds: strings(&["*"]),
                    verbs: strings(&["*"]),
                },
            ],
            route53: vec![
                Route53Grant {
                    zones: vec![HostedZone::Name("example.com".into())],
                    records: strings(&["multi-region.example.com", "*.example.com"]),
                },
                Route53Grant {
                    zones: vec![HostedZone::Id("Z2BJ6XQ5FK7U4H".into())],
                    records: vec![],
                },
            ],
            global_accelerator: vec![AcceleratorGrant {
                accelerators: vec![
                    AcceleratorSelector::Name("failover-demo".into()),
                    AcceleratorSelector::Tag {
                        key: "team".into(),
                        value: "platform".into()
                    },
                    AcceleratorSelector::Any,
                ],
                create: true,
                guard: Default::default(),
            }],
            elbv2: vec![Elbv2Grant {
                regions: strings(&["us-east-1", "us-east-2"]),
            }],
            probe: vec![ProbeGrant {
                hosts: strings(&["*.awsglobalaccelerator.com", "127.0.0.1", "::1"]),
            }],
            identity: true,
        }
    );
    // The single-table form is one grant.
    let deploy = every_key().step("deploy").unwrap().grant.clone();
    assert_eq!(deploy.kubernetes.len(), 1);
    assert_eq!(deploy.kubernetes[0].kinds, ["Ingress"]);
}

#[test]
fn summary_has_one_line_per_grant() {
    assert_eq!(
        build_grants().summary(),
        [
            "kubernetes: clusters primary, secondary; namespaces kube-system; kinds Deployment, ServiceAccount, ClusterRole; verbs get, list, apply, patch, delete, wait",
            "kubernetes: clusters *; namespaces *; kinds *; verbs *",
            "route53: zones example.com; records multi-region.example.com, *.example.com",
            "route53: zones Z2BJ6XQ5FK7U4H; records none (zone-level calls only)",
            "global_accelerator: accelerators name:failover-demo, tag:team=platform, *; may create",
            "elbv2: regions us-east-1, us-east-2",
            "probe: hosts *.awsglobalaccelerator.com, 127.0.0.1, ::1",
            "identity: may read the caller identity",
        ]
    );
}

/// The grants of the issue's `lbc` example, without the catch-all entries of every-key.
fn lbc() -> Grants {
    let wf = crate::support::parse(
        r#"
name = "lbc"
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
  { clusters = ["primary"], namespaces = ["app"], kinds = ["*"], verbs = ["*"] },
]
route53 = { zones = ["example.com"], records = ["multi-region.example.com", "*.internal.example.com"] }
global_accelerator = [
  { accelerators = ["name:failover-demo"], create = true },
  { accelerators = ["tag:team=platform"] },
]
elbv2 = { regions = ["us-east-1", "us-east-2"] }
probe = { hosts = ["*.awsglobalaccelerator.com", "127.0.0.1", "::1"] }
identity = true
"#,
    );
    wf.steps[0].grant.clone()
}

#[test]
fn kubernetes_matrix() {
    let g = lbc();
    assert_eq!(
        g.kubernetes("primary", Some("kube-system"), "Deployment", "apply"),
        Ok(())
    );
    assert_eq!(
        g.kubernetes("secondary", Some("kube-system"), "ServiceAccount", "get"),
        Ok(())
    );
    // A cluster-scoped kind named in the grant, whatever its namespaces.
    assert_eq!(
        g.kubernetes("primary", None, "ClusterRole", "apply"),
        Ok(())
    );
    // `*` kinds and verbs inside a granted namespace.
    assert_eq!(
        g.kubernetes("primary", Some("app"), "Ingress", "scale"),
        Ok(())
    );

    assert_eq!(
        denied(g.kubernetes("primary", Some("default"), "Deployment", "apply")),
        "no grant allows `apply` of Deployment in namespace `default` of cluster `primary` (grants.kubernetes)"
    );
    assert_eq!(
        denied(g.kubernetes("primary", Some("kube-system"), "Deployment", "scale")),
        "no grant allows `scale` of Deployment in namespace `kube-system` of cluster `primary` (grants.kubernetes)"
    );
    assert_eq!(
        denied(g.kubernetes("tertiary", Some("kube-system"), "Deployment", "get")),
        "no grant allows `get` of Deployment in namespace `kube-system` of cluster `tertiary` (grants.kubernetes)"
    );
    assert_eq!(
        denied(g.kubernetes("secondary", Some("app"), "Ingress", "get")),
        "no grant allows `get` of Ingress in namespace `app` of cluster `secondary` (grants.kubernetes)"
    );
    // `kinds = ["*"]` in a namespace does not reach cluster-scoped kinds...
    assert_eq!(
        denied(g.kubernetes("primary", None, "ClusterRoleBinding", "apply")),
        "no grant allows `apply` of ClusterRoleBinding of cluster `primary` (grants.kubernetes)"
    );
    // ...nor a call across all namespaces.
    assert_eq!(
        denied(g.kubernetes("primary", Some("*"), "Deployment", "list")),
        "no grant allows `list` of Deployment in all namespaces of cluster `primary` (grants.kubernetes)"
    );
    // Kinds compare exactly.
    assert!(
        g.kubernetes("primary", Some("kube-system"), "deployment", "get")
            .is_err()
    );

    let all = build_grants();
    assert_eq!(
        all.kubernetes("secondary", Some("*"), "Secret", "list"),
        Ok(())
    );
    assert_eq!(
        all.kubernetes("primary", None, "ClusterRoleBinding", "delete"),
        Ok(())
    );
}

#[test]
fn route53_matrix() {
    let g = lbc();
    assert_eq!(g.route53("example.com", None), Ok(()));
    assert_eq!(
        g.route53("Example.COM.", Some("Multi-Region.example.com.")),
        Ok(())
    );
    assert_eq!(
        g.route53("example.com", Some("a.internal.example.com")),
        Ok(())
    );
    assert_eq!(
        g.route53("example.com", Some("a.b.internal.example.com")),
        Ok(())
    );

    assert_eq!(
        denied(g.route53("example.com", Some("internal.example.com"))),
        "no grant allows record `internal.example.com` in hosted zone `example.com` (grants.route53)"
    );
    assert_eq!(
        denied(g.route53("example.com", Some("www.example.com"))),
        "no grant allows record `www.example.com` in hosted zone `example.com` (grants.route53)"
    );
    assert_eq!(
        denied(g.route53("example.org", None)),
        "no grant allows hosted zone `example.org` (grants.route53)"
    );
    // A zone granted by name is not matched by its id alone, but is with both.
    assert!(g.route53("Z0123456789ABC", None).is_err());
    assert_eq!(
        g.route53_zone(
            "/hostedzone/Z0123456789ABC",
            "example.com.",
            Some("multi-region.example.com")
        ),
        Ok(())
    );
    assert_eq!(
        denied(g.route53_zone("Z0123456789ABC", "example.org", None)),
        "no grant allows hosted zone `example.org` (Z0123456789ABC) (grants.route53)"
    );

    // Zones granted by id; a zone with no `records` allows zone-level calls only.
    let all = build_grants();
    assert_eq!(all.route53("/hostedzone/Z2BJ6XQ5FK7U4H", None), Ok(()));
    assert_eq!(
        all.route53_zone("Z2BJ6XQ5FK7U4H", "other.net", None),
        Ok(())
    );
    assert_eq!(
        denied(all.route53("Z2BJ6XQ5FK7U4H", Some("x.other.net"))),
        "no grant allows record `x.other.net` in hosted zone `Z2BJ6XQ5FK7U4H` (grants.route53)"
    );
}

#[test]
fn accelerator_matrix() {
    let g = lbc();
    let platform = [("team".to_owned(), "platform".to_owned())];
    let web = [("team".to_owned(), "web".to_owned())];
    assert_eq!(g.accelerator(Some("failover-demo"), &[], false), Ok(()));
    assert_eq!(g.accelerator(Some("failover-demo"), &[], true), Ok(()));
    assert_eq!(g.accelerator(Some("other"), &platform, false), Ok(()));
    assert_eq!(g.accelerator(None, &[], false), Ok(()));

    assert_eq!(
        denied(g.accelerator(Some("other"), &web, false)),
        "no grant allows accelerator `other` tagged team=web (grants.global_accelerator)"
    );
    // The tag grant has no `create = true`.
    assert_eq!(
        denied(g.accelerator(Some("other"), &platform, true)),
        "no grant allows creating accelerator `other` tagged team=platform (grants.global_accelerator with `create = true`)"
    );
    assert_eq!(
        denied(g.accelerator(None, &web, false)),
        "no grant allows accelerator tagged team=web (grants.global_accelerator)"
    );
    assert_eq!(
        denied(Grants::default().accelerator(None, &[], false)),
        "no grant allows listing accelerators (grants.global_accelerator)"
    );
    assert_eq!(
        build_grants().accelerator(Some("anything"), &[], true),
        Ok(())
    );
}

#[test]
fn elbv2_probe_and_identity_matrix() {
    let g = lbc();
    assert_eq!(g.elbv2("us-east-2"), Ok(()));
    assert_eq!(
        denied(g.elbv2("eu-west-1")),
        "no grant allows Elastic Load Balancing in region `eu-west-1` (grants.elbv2)"
    );

    assert_eq!(
        g.probe("a1234567890abcdef.awsglobalaccelerator.com"),
        Ok(())
    );
    assert_eq!(g.probe("A1.AwsGlobalAccelerator.com."), Ok(()));
    assert_eq!(g.probe("127.0.0.1"), Ok(()));
    assert_eq!(g.probe("[0:0::1]"), Ok(()));
    assert_eq!(
        denied(g.probe("awsglobalaccelerator.com")),
        "no grant allows probing host `awsglobalaccelerator.com` (grants.probe)"
    );
    assert_eq!(
        denied(g.probe("169.254.169.254")),
        "no grant allows probing host `169.254.169.254` (grants.probe)"
    );

    assert_eq!(g.identity(), Ok(()));
    assert_eq!(
        denied(Grants::default().identity()),
        "no grant allows reading the caller identity (grants.identity)"
    );
}

#[test]
fn no_grants_deny_every_cloud_call() {
    let none = Grants::default();
    assert!(none.is_empty());
    assert!(
        none.kubernetes("primary", Some("app"), "Pod", "get")
            .is_err()
    );
    assert!(none.route53("example.com", None).is_err());
    assert!(none.accelerator(Some("a"), &[], false).is_err());
    assert!(none.elbv2("us-east-1").is_err());
    assert!(none.probe("127.0.0.1").is_err());
    assert!(none.identity().is_err());
    assert!(none.summary().is_empty());
}

#[test]
fn variables_and_overrides_flow_into_cloud_settings_and_grants() {
    let source = r#"
name = "vars"
[vars]
primary_region = "us-east-1"
account = "012345678901"
domain = "example.com"
[clusters.primary]
region = "${vars.primary_region}"
cluster = "blog-${vars.primary_region}"
[aws]
account = "${vars.account}"
regions = ["${vars.primary_region}"]
[[steps]]
id = "dns"
plugin = "echo"
grants = { route53 = { zones = ["${vars.domain}"], records = ["multi-region.${vars.domain}"] }, elbv2 = { regions = ["${vars.primary_region}"] } }
"#;
    let overrides = [("primary_region", "eu-west-1"), ("domain", "Example.ORG")];
    let wf = crate::support::parse_with(source, &overrides).unwrap_or_else(|r| panic!("{r}"));
    let primary = wf.cloud.cluster("primary").unwrap();
    assert_eq!(
        (primary.region.as_str(), primary.cluster.as_str()),
        ("eu-west-1", "blog-eu-west-1")
    );
    assert_eq!(wf.cloud.aws.account.as_deref(), Some("012345678901"));
    assert_eq!(wf.cloud.aws.regions, Some(strings(&["eu-west-1"])));
    let grant = &wf.steps[0].grant;
    assert_eq!(
        grant.route53("example.org", Some("multi-region.example.org")),
        Ok(())
    );
    assert_eq!(grant.elbv2("eu-west-1"), Ok(()));
    // The raw JSON keeps what the file says.
    assert_eq!(wf.clusters["primary"]["region"], "${vars.primary_region}");

    // An override can also make a setting invalid; the problem points at the reference.
    let report = crate::support::parse_with(source, &[("primary_region", "mars-1")]).unwrap_err();
    assert_eq!(
        crate::support::problems(&report)[0],
        (
            8,
            10,
            "invalid AWS region `mars-1` in [clusters.primary]".to_owned()
        )
    );
}
