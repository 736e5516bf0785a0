//! `app-deploy`: applies an app's manifests in one cluster, waits for its rollout and
//! for its Ingress to get an address, and finds the ALB behind that address through
//! ELBv2, so later steps (Global Accelerator endpoints) can use its ARN.

mod manifest;

use std::time::Duration;

use runner_plugin::kubernetes::{self as k8s, ApplyOutcome, ObjectRef, WaitFor};
use runner_plugin::{Description, Error, Guest, Invocation, Recorded, elbv2, state};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

const KEYS: [&str; 8] = [
    "cluster",
    "region",
    "namespace",
    "manifest",
    "deployment",
    "ingress",
    "rollout_timeout_ms",
    "address_timeout_ms",
];
const OUTPUTS: [&str; 7] = [
    "hostname",
    "alb_arn",
    "alb_name",
    "region",
    "cluster",
    "namespace",
    "change",
];
const APPLIED: &str = "applied";
const ALB_ARN: &str = "alb_arn";
/// How long destroy waits for the controller to delete the ALB once the Ingress is gone.
const ALB_GONE: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(500);
const HOSTNAME: &str = "{.status.loadBalancer.ingress[0].hostname}";

fn default_namespace() -> String {
    "default".into()
}
fn default_timeout_ms() -> u64 {
    120_000
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    /// The workflow's `[clusters.<name>]`.
    cluster: String,
    /// Where the ALB is looked up: the cluster's region.
    region: String,
    #[serde(default = "default_namespace")]
    namespace: String,
    manifest: String,
    deployment: Option<String>,
    ingress: Option<String>,
    #[serde(default = "default_timeout_ms")]
    rollout_timeout_ms: u64,
    #[serde(default = "default_timeout_ms")]
    address_timeout_ms: u64,
}

/// An applied object, so destroy deletes exactly what run applied.
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
struct Record {
    api_version: String,
    kind: String,
    namespace: Option<String>,
    name: String,
}

impl Record {
    fn target(&self, cluster: &str) -> ObjectRef {
        ObjectRef {
            cluster: cluster.into(),
            api_version: self.api_version.clone(),
            kind: self.kind.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }
    fn what(&self, cluster: &str) -> String {
        let ns = self.namespace.as_deref().map(|n| format!("{n}/"));
        let (kind, name) = (&self.kind, &self.name);
        format!(
            "{kind} {}{name} in cluster `{cluster}`",
            ns.unwrap_or_default()
        )
    }
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

/// Adds the applied objects to those of earlier runs (an object dropped from the
/// manifest since is still this step's to delete) and journals them before any wait.
fn remember(applied: &[k8s::Applied]) -> Result<Vec<Record>, Error> {
    let mut records = recorded()?;
    for a in applied {
        let r = Record {
            api_version: a.api_version.clone(),
            kind: a.kind.clone(),
            namespace: a.namespace.clone(),
            name: a.name.clone(),
        };
        if a.outcome != ApplyOutcome::Unchanged {
            let outcome = match a.outcome {
                ApplyOutcome::Created => "created",
                _ => "configured",
            };
            let mut fields = vec![("name", a.name.as_str())];
            fields.extend(a.namespace.as_deref().map(|n| ("namespace", n)));
            runner_plugin::info(&format!("{outcome} {}", a.kind), &fields);
        }
        if !records.contains(&r) {
            records.push(r);
        }
    }
    let text = serde_json::to_string(&records)
        .map_err(|e| Error::Internal(format!("encoding state: {e}")))?;
    state::set(APPLIED, &text)?;
    Ok(records)
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

/// The applied object of `kind` named by the parameter, or else the manifest's first.
fn pick(
    records: &[Record],
    objects: &[manifest::Object],
    kind: &str,
    name: Option<&str>,
    param: &str,
) -> Result<Record, Error> {
    let name = match name {
        Some(n) => n.to_string(),
        None => manifest::first(objects, kind)
            .map(|o| o.name.clone())
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "the manifest has no {kind}: add one or set `{param}`"
                ))
            })?,
    };
    records
        .iter()
        .find(|r| r.kind == kind && r.name == name)
        .cloned()
        .ok_or_else(|| {
            Error::Invalid(format!(
                "`{param}` is `{name}`, but the manifest has no {kind} `{name}`"
            ))
        })
}

/// Checks the keys and, when the manifest is already literal text, that it names the
/// objects run will wait for.
fn check(params: &str) -> Result<(), Error> {
    let v: Value = runner_plugin::params(params)?;
    let Some(table) = v.as_object() else {
        return Err(Error::Invalid("`with` must be a table".into()));
    };
    for required in ["cluster", "region", "manifest"] {
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
    let Some(text) = table["manifest"].as_str().filter(|t| !t.contains("${")) else {
        return Ok(());
    };
    let objects = manifest::objects(text).map_err(Error::Invalid)?;
    for (kind, param) in [("Deployment", "deployment"), ("Ingress", "ingress")] {
        if !table.contains_key(param) && manifest::first(&objects, kind).is_none() {
            return Err(Error::Invalid(format!(
                "the manifest has no {kind}: add one or set `{param}`"
            )));
        }
    }
    Ok(())
}

struct AppDeploy;

impl Guest for AppDeploy {
    fn describe(params: String) -> Result<Description, Error> {
        check(&params)?;
        Ok(Description {
            outputs: OUTPUTS.iter().map(|s| s.to_string()).collect(),
            summary: "deploys an app behind an ALB Ingress and finds the ALB".into(),
        })
    }

    fn run(input: Invocation) -> Result<String, Error> {
        let p: Params = runner_plugin::params(&input.params)?;
        let (cluster, region) = (p.cluster.as_str(), p.region.as_str());
        let objects = manifest::objects(&p.manifest).map_err(Error::Invalid)?;

        let applied = k8s::apply(cluster, Some(&p.namespace), &p.manifest)
            .map_err(|e| context(e, &format!("applying the manifest in cluster `{cluster}`")))?;
        let records = remember(&applied)?;
        let dep = pick(
            &records,
            &objects,
            "Deployment",
            p.deployment.as_deref(),
            "deployment",
        )?;
        let ing = pick(
            &records,
            &objects,
            "Ingress",
            p.ingress.as_deref(),
            "ingress",
        )?;

        let available = WaitFor::Condition(("Available".into(), "True".into()));
        k8s::wait(&dep.target(cluster), &available, p.rollout_timeout_ms).map_err(|e| {
            let within = secs(p.rollout_timeout_ms);
            context(
                e,
                &format!(
                    "{} did not become Available within {within}",
                    dep.what(cluster)
                ),
            )
        })?;

        let addressed = WaitFor::Jsonpath((HOSTNAME.into(), None));
        let seen = match k8s::wait(&ing.target(cluster), &addressed, p.address_timeout_ms) {
            Ok(seen) => seen,
            Err(Error::Timeout(m)) => {
                let ns = ing.namespace.as_deref().unwrap_or(&p.namespace);
                return Err(Error::Timeout(format!(
                    "Ingress {ns}/{} in cluster `{cluster}` got no address within {}: is the \
                     AWS Load Balancer Controller installed and Available there (an lbc-install \
                     step before this one)? ({m})",
                    ing.name,
                    secs(p.address_timeout_ms)
                )));
            }
            Err(e) => return Err(context(e, &format!("waiting for {}", ing.what(cluster)))),
        };
        let object: Value = serde_json::from_str(&seen)
            .map_err(|e| Error::Internal(format!("{} is not JSON: {e}", ing.what(cluster))))?;
        let hostname = object
            .pointer("/status/loadBalancer/ingress/0/hostname")
            .and_then(Value::as_str)
            .filter(|h| !h.is_empty())
            .ok_or_else(|| Error::Internal(format!("{} has no hostname", ing.what(cluster))))?
            .to_string();

        // The ALB must be `active` before Global Accelerator takes it as an endpoint.
        let alb = runner_plugin::poll::until(
            &format!("waiting for the ALB of {} to be active", ing.what(cluster)),
            Duration::from_millis(p.address_timeout_ms),
            Duration::from_millis(300),
            || {
                let lbs = elbv2::describe_load_balancers(region, &[], &[])
                    .map_err(|e| context(e, &format!("listing the load balancers of {region}")))?;
                let alb = lbs
                    .into_iter()
                    .find(|lb| lb.dns_name.eq_ignore_ascii_case(&hostname))
                    .ok_or_else(|| {
                        Error::NotFound(format!(
                            "no load balancer in {region} has the DNS name `{hostname}` of {} \
                             (is `region` the cluster's region?)",
                            ing.what(cluster)
                        ))
                    })?;
                Ok((alb.state == "active").then_some(alb))
            },
        )?;
        state::set(ALB_ARN, &alb.arn)?;
        runner_plugin::info(
            "found the Ingress's ALB",
            &[
                ("arn", &alb.arn),
                ("hostname", &hostname),
                ("state", &alb.state),
            ],
        );

        runner_plugin::outputs(&json!({
            "hostname": hostname,
            "alb_arn": alb.arn,
            "alb_name": alb.name,
            "region": region,
            "cluster": cluster,
            "namespace": p.namespace,
            "change": change(&applied),
        }))
    }

    fn destroy(input: Invocation, recorded_: Recorded) -> Result<(), Error> {
        let p: Params = runner_plugin::params(&input.params)?;
        let (cluster, region) = (p.cluster.as_str(), p.region.as_str());
        let records = recorded()?;
        for r in records.iter().rev() {
            let deleted = match k8s::delete(&r.target(cluster)) {
                Ok(d) => d,
                Err(Error::NotFound(_)) => false,
                Err(e) => return Err(context(e, &format!("deleting {}", r.what(cluster)))),
            };
            if deleted {
                runner_plugin::info(&format!("deleted {}", r.kind), &[("name", &r.name)]);
            }
        }
        // The controller deletes the ALB, then the Ingress's finalizer lets it go.
        for ing in records.iter().filter(|r| r.kind == "Ingress") {
            k8s::wait(
                &ing.target(cluster),
                &WaitFor::Deleted,
                p.address_timeout_ms,
            )
            .map_err(|e| {
                context(
                    e,
                    &format!(
                        "{} is still there: its ALB finalizer needs the AWS Load Balancer \
                             Controller, so destroy this step before the controller",
                        ing.what(cluster)
                    ),
                )
            })?;
        }
        let outputs: Value = serde_json::from_str(&recorded_.outputs).unwrap_or(Value::Null);
        let arn = state::get(ALB_ARN).or_else(|| {
            outputs
                .get("alb_arn")
                .and_then(Value::as_str)
                .map(Into::into)
        });
        if let Some(arn) = arn {
            let what = format!("waiting for ALB {arn} in {region} to be deleted");
            runner_plugin::poll::until(&what, ALB_GONE, POLL, || {
                let lbs = elbv2::describe_load_balancers(region, &[], &[])
                    .map_err(|e| context(e, &format!("listing the load balancers of {region}")))?;
                Ok(lbs.iter().all(|lb| lb.arn != arn).then_some(()))
            })?;
            runner_plugin::info("the ALB is gone", &[("arn", &arn)]);
        }
        Ok(())
    }
}

runner_plugin::export!(AppDeploy);
