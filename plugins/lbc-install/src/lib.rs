//! `lbc-install`: installs the AWS Load Balancer Controller in one cluster the way its
//! Helm chart (eks/aws-load-balancer-controller, v2.7) does, so that Ingresses of class
//! `alb` get an ALB, and waits until the controller's Deployment is Available.

mod objects;

use runner_plugin::kubernetes::{self as k8s, ApplyOutcome, ObjectRef, WaitFor};
use runner_plugin::{Description, Error, Guest, Invocation, Recorded, state};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use objects::{CRDS, DEPLOYMENT, INGRESS_CLASS, Settings};

const CRDS_YAML: &str = include_str!("../crds.yaml");
const CRD_API: &str = "apiextensions.k8s.io/v1";
const CRD_KIND: &str = "CustomResourceDefinition";
/// How long CRDs get to become Established: the API server does it in moments.
const CRD_TIMEOUT_MS: u64 = 30_000;
/// The state key of the applied objects.
const APPLIED: &str = "applied";

const KEYS: [&str; 9] = [
    "cluster",
    "cluster_name",
    "region",
    "vpc_id",
    "service_account_role_arn",
    "image",
    "replicas",
    "namespace",
    "timeout_ms",
];
const OUTPUTS: [&str; 5] = [
    "change",
    "cluster",
    "namespace",
    "deployment",
    "ingress_class",
];

fn default_image() -> String {
    "public.ecr.aws/eks/aws-load-balancer-controller:v2.7.2".into()
}
fn default_replicas() -> u32 {
    2
}
fn default_namespace() -> String {
    "kube-system".into()
}
fn default_timeout_ms() -> u64 {
    120_000
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    /// The workflow's `[clusters.<name>]`.
    cluster: String,
    /// The EKS cluster's own name, which the controller tags and discovers by.
    cluster_name: String,
    region: Option<String>,
    vpc_id: Option<String>,
    service_account_role_arn: Option<String>,
    #[serde(default = "default_image")]
    image: String,
    #[serde(default = "default_replicas")]
    replicas: u32,
    #[serde(default = "default_namespace")]
    namespace: String,
    #[serde(default = "default_timeout_ms")]
    timeout_ms: u64,
}

/// One applied object; `created` stays true once a run of this step created it, so
/// destroy knows which CRDs are ours to delete (Helm never deletes CRDs it did not make).
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
struct Record {
    api_version: String,
    kind: String,
    namespace: Option<String>,
    name: String,
    created: bool,
}

/// The same error kind with context in front of its message.
fn context(e: Error, what: &str) -> Error {
    runner_plugin::context(what)(e)
}

fn secs(ms: u64) -> String {
    runner_plugin::poll::seconds(ms)
}

fn recorded() -> Result<Vec<Record>, Error> {
    Ok(runner_plugin::recall(APPLIED)?.unwrap_or_default())
}

/// Adds what `apply` did to the records (keeping `created` from earlier runs) and
/// journals them at once, before any wait, so a crash cannot lose an object.
fn remember(records: &mut Vec<Record>, applied: &[k8s::Applied]) -> Result<(), Error> {
    for a in applied {
        let created = a.outcome == ApplyOutcome::Created;
        let same = |r: &&mut Record| {
            r.api_version == a.api_version
                && r.kind == a.kind
                && r.namespace == a.namespace
                && r.name == a.name
        };
        match records.iter_mut().find(same) {
            Some(r) => r.created |= created,
            None => records.push(Record {
                api_version: a.api_version.clone(),
                kind: a.kind.clone(),
                namespace: a.namespace.clone(),
                name: a.name.clone(),
                created,
            }),
        }
        if a.outcome != ApplyOutcome::Unchanged {
            let outcome = if created { "created" } else { "configured" };
            let mut fields = vec![("name", a.name.as_str())];
            fields.extend(a.namespace.as_deref().map(|n| ("namespace", n)));
            runner_plugin::info(&format!("{outcome} {}", a.kind), &fields);
        }
    }
    let text = serde_json::to_string(records)
        .map_err(|e| Error::Internal(format!("encoding state: {e}")))?;
    state::set(APPLIED, &text)
}

/// The document of `crds.yaml` that defines the CRD `name`.
fn crd_document(name: &str) -> Result<&'static str, Error> {
    let line = format!("\n  name: {name}\n");
    CRDS_YAML
        .split("\n---\n")
        .find(|doc| doc.contains(&line))
        .ok_or_else(|| Error::Internal(format!("crds.yaml does not define {name}")))
}

fn target(cluster: &str, api_version: &str, kind: &str, ns: Option<&str>, name: &str) -> ObjectRef {
    ObjectRef {
        cluster: cluster.into(),
        api_version: api_version.into(),
        kind: kind.into(),
        namespace: ns.map(Into::into),
        name: name.into(),
    }
}

fn change(applied: &[k8s::Applied]) -> &'static str {
    if applied.iter().any(|a| a.outcome == ApplyOutcome::Created) {
        "created"
    } else if applied
        .iter()
        .any(|a| a.outcome == ApplyOutcome::Configured)
    {
        "updated"
    } else {
        "unchanged"
    }
}

struct LbcInstall;

impl Guest for LbcInstall {
    fn describe(params: String) -> Result<Description, Error> {
        // Values may still be `${...}`: check only which keys there are.
        let v: Value = runner_plugin::params(&params)?;
        let Some(table) = v.as_object() else {
            return Err(Error::Invalid("`with` must be a table".into()));
        };
        for required in ["cluster", "cluster_name"] {
            if !table.contains_key(required) {
                return Err(Error::Invalid(format!("`{required}` is required")));
            }
        }
        if let Some(k) = table.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(Error::Invalid(format!(
                "unknown parameter `{k}` (expected one of {})",
                KEYS.join(", ")
            )));
        }
        Ok(Description {
            outputs: OUTPUTS.iter().map(|s| s.to_string()).collect(),
            summary: "installs the AWS Load Balancer Controller as its Helm chart does".into(),
        })
    }

    fn run(input: Invocation) -> Result<String, Error> {
        let p: Params = runner_plugin::params(&input.params)?;
        let (cluster, ns) = (p.cluster.as_str(), p.namespace.as_str());
        let mut records = recorded()?;

        // The custom kinds must exist before a manifest that uses them can be resolved.
        // As Helm does with a chart's `crds/`, create the missing ones and never touch
        // existing ones (the tutorial installs them beforehand with `kubectl apply -k`).
        let mut missing = Vec::new();
        for name in CRDS {
            match k8s::get(&target(cluster, CRD_API, CRD_KIND, None, name)) {
                Ok(_) => {}
                Err(Error::NotFound(_)) => missing.push(crd_document(name)?),
                Err(e) => {
                    return Err(context(
                        e,
                        &format!("reading CRD {name} in cluster `{cluster}`"),
                    ));
                }
            }
        }
        let crds = match missing.is_empty() {
            true => Vec::new(),
            false => k8s::apply(cluster, None, &missing.join("\n---\n")).map_err(|e| {
                context(e, &format!("creating the LBC CRDs in cluster `{cluster}`"))
            })?,
        };
        remember(&mut records, &crds)?;
        for name in CRDS {
            let crd = target(cluster, CRD_API, CRD_KIND, None, name);
            let until = WaitFor::Condition(("Established".into(), "True".into()));
            k8s::wait(&crd, &until, CRD_TIMEOUT_MS).map_err(|e| {
                context(
                    e,
                    &format!("CRD {name} in cluster `{cluster}` did not become Established"),
                )
            })?;
        }

        let settings = Settings {
            namespace: ns,
            cluster_name: &p.cluster_name,
            region: p.region.as_deref(),
            vpc_id: p.vpc_id.as_deref(),
            role_arn: p.service_account_role_arn.as_deref(),
            image: &p.image,
            replicas: p.replicas,
        };
        let list =
            json!({"apiVersion": "v1", "kind": "List", "items": objects::objects(&settings)});
        let rest = k8s::apply(cluster, Some(ns), &list.to_string()).map_err(|e| {
            context(
                e,
                &format!("applying the LBC in cluster `{cluster}` namespace `{ns}`"),
            )
        })?;
        remember(&mut records, &rest)?;

        let dep = target(cluster, "apps/v1", "Deployment", Some(ns), DEPLOYMENT);
        let until = WaitFor::Condition(("Available".into(), "True".into()));
        k8s::wait(&dep, &until, p.timeout_ms).map_err(|e| {
            context(
                e,
                &format!(
                    "Deployment {ns}/{DEPLOYMENT} in cluster `{cluster}` did not become Available \
                     within {} (check its pods: image `{}`, replicas {})",
                    secs(p.timeout_ms),
                    p.image,
                    p.replicas
                ),
            )
        })?;

        let all: Vec<k8s::Applied> = crds.into_iter().chain(rest).collect();
        runner_plugin::outputs(&json!({
            "change": change(&all),
            "cluster": cluster,
            "namespace": ns,
            "deployment": DEPLOYMENT,
            "ingress_class": INGRESS_CLASS,
        }))
    }

    fn destroy(input: Invocation, _recorded: Recorded) -> Result<(), Error> {
        let p: Params = runner_plugin::params(&input.params)?;
        let cluster = p.cluster.as_str();
        let records = recorded()?;
        if records.is_empty() {
            runner_plugin::info("nothing was applied; nothing to delete", &[]);
        }
        let (crds, rest): (Vec<&Record>, Vec<&Record>) =
            records.iter().partition(|r| r.kind == CRD_KIND);
        // Reverse order of creation, the CRDs (only those this step created) last, so
        // no custom resource is left without its kind.
        let ours = crds.into_iter().filter(|r| {
            if !r.created {
                runner_plugin::info("keeping CRD this step did not create", &[("name", &r.name)]);
            }
            r.created
        });
        for r in rest.into_iter().rev().chain(ours) {
            let t = target(
                cluster,
                &r.api_version,
                &r.kind,
                r.namespace.as_deref(),
                &r.name,
            );
            let what = format!(
                "{} {}{} in cluster `{cluster}`",
                r.kind,
                r.namespace
                    .as_deref()
                    .map(|n| format!("{n}/"))
                    .unwrap_or_default(),
                r.name
            );
            let deleted = match k8s::delete(&t) {
                Ok(d) => d,
                Err(Error::NotFound(_)) => false,
                Err(e) => return Err(context(e, &format!("deleting {what}"))),
            };
            if deleted {
                runner_plugin::info(&format!("deleted {}", r.kind), &[("name", &r.name)]);
            }
            if r.kind == "Deployment" {
                k8s::wait(&t, &WaitFor::Deleted, p.timeout_ms)
                    .map_err(|e| context(e, &format!("waiting for {what} to be gone")))?;
            }
        }
        Ok(())
    }
}

runner_plugin::export!(LbcInstall);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_crd_has_its_own_document() {
        for name in CRDS {
            let doc = crd_document(name).unwrap();
            assert!(doc.contains("kind: CustomResourceDefinition"));
            assert_eq!(doc.matches("kind: CustomResourceDefinition").count(), 1);
        }
        assert_ne!(
            crd_document(CRDS[0]).unwrap(),
            crd_document(CRDS[1]).unwrap()
        );
    }
}
