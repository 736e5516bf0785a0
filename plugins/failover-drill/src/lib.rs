//! `failover-drill`: the tutorial's "Simulate a failover", as one step. It sends requests
//! through the accelerator, scales the primary app to zero, measures how long until every
//! answer comes from the standby region (and what failed meanwhile), restores the app and
//! measures the failback. Only capabilities are used, so it runs against AWS as well.

mod measure;

use std::time::Duration;

use runner_plugin::global_accelerator as ga;
use runner_plugin::kubernetes::{self as k8s, ObjectRef};
use runner_plugin::{Description, Error, Guest, Invocation, Recorded, state};
use serde::Deserialize;
use serde_json::{Value, json};

use measure::Watch;

/// The replicas the primary had before the drill, kept until they are back.
const SCALED_FROM: &str = "scaled_from";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    /// The accelerator's name; its DNS name is probed unless `url` is given.
    accelerator: String,
    /// The cluster, namespace and Deployment of the primary region's app.
    cluster: String,
    #[serde(default = "default_namespace")]
    namespace: String,
    #[serde(default = "default_deployment")]
    deployment: String,
    primary_region: String,
    standby_region: String,
    #[serde(default)]
    url: Option<String>,
    /// Time between requests.
    #[serde(default = "default_interval")]
    interval_ms: u64,
    /// Consecutive answers from one region that count as "switched".
    #[serde(default = "default_settle")]
    settle: u32,
    /// Limit for each phase (baseline, failover, failback).
    #[serde(default = "default_timeout")]
    timeout_ms: u64,
}

fn default_namespace() -> String {
    "default".into()
}
fn default_deployment() -> String {
    "py-az".into()
}
fn default_interval() -> u64 {
    250
}
fn default_settle() -> u32 {
    5
}
fn default_timeout() -> u64 {
    300_000
}

impl Params {
    fn deployment(&self) -> ObjectRef {
        ObjectRef {
            cluster: self.cluster.clone(),
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            namespace: Some(self.namespace.clone()),
            name: self.deployment.clone(),
        }
    }
}

/// The URL requests go to: the accelerator's own DNS name, as a client would use it.
fn target_url(p: &Params) -> Result<String, Error> {
    if let Some(url) = &p.url {
        return Ok(url.clone());
    }
    let found = ga::list_accelerators()
        .map_err(runner_plugin::context("listing accelerators"))?
        .into_iter()
        .find(|a| a.name == p.accelerator)
        .ok_or_else(|| {
            Error::NotFound(format!(
                "no accelerator named `{}` (run the workflow that creates it first)",
                p.accelerator
            ))
        })?;
    Ok(format!("http://{}/", found.dns_name))
}

fn replicas(target: &ObjectRef) -> Result<u32, Error> {
    let text = k8s::get(target).map_err(runner_plugin::context("reading the primary app"))?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| Error::Internal(format!("the Deployment is not JSON: {e}")))?;
    Ok(v.pointer("/spec/replicas")
        .and_then(Value::as_u64)
        .unwrap_or(1)
        .min(u64::from(u32::MAX)) as u32)
}

/// Puts the primary back as it was, if this step scaled it down.
fn restore(target: &ObjectRef) -> Result<Option<u32>, Error> {
    let Some(n) = state::get(SCALED_FROM).and_then(|s| s.parse::<u32>().ok()) else {
        return Ok(None);
    };
    k8s::scale(target, n).map_err(runner_plugin::context("restoring the primary app"))?;
    runner_plugin::info("restored the primary app", &[("replicas", &n.to_string())]);
    state::delete(SCALED_FROM)?;
    Ok(Some(n))
}

fn drill(p: &Params, url: &str) -> Result<Value, Error> {
    let every = Duration::from_millis(p.interval_ms.max(50));
    let limit = Duration::from_millis(p.timeout_ms);
    let mut watch = Watch::new(url, every, p.settle);
    let baseline = watch
        .until_settled(&p.primary_region, limit, "answers from the primary region")
        .map_err(runner_plugin::context("before the drill"))?;
    let target = p.deployment();
    let before = replicas(&target)?;
    state::set(SCALED_FROM, &before.to_string())?;
    k8s::scale(&target, 0).map_err(runner_plugin::context("scaling the primary app to zero"))?;
    runner_plugin::info(
        "scaled the primary app to zero",
        &[("deployment", &p.deployment), ("was", &before.to_string())],
    );
    let failover = watch.until_settled(&p.standby_region, limit, "answers from the standby region");
    // Whatever happened, the primary goes back before the step ends.
    restore(&target)?;
    let failover = failover.map_err(runner_plugin::context("during the failover"))?;
    let failback = watch
        .until_settled(
            &p.primary_region,
            limit,
            "answers from the primary region again",
        )
        .map_err(runner_plugin::context("during the failback"))?;
    Ok(json!({
        "url": url,
        "primary_region": p.primary_region,
        "standby_region": p.standby_region,
        "baseline_requests": baseline.requests,
        "failover_ms": failover.settled_ms,
        "first_standby_ms": failover.first_ms,
        "failover_errors": failover.errors,
        "failover_requests": failover.requests,
        "failback_ms": failback.settled_ms,
        "failback_errors": failback.errors,
        "failback_requests": failback.requests,
    }))
}

struct Drill;

impl Guest for Drill {
    fn describe(params: String) -> Result<Description, Error> {
        let v: Value = runner_plugin::params(&params)?;
        for key in ["accelerator", "cluster", "primary_region", "standby_region"] {
            if v.get(key).is_none() {
                return Err(Error::Invalid(format!("`{key}` is required")));
            }
        }
        Ok(Description {
            outputs: [
                "url",
                "primary_region",
                "standby_region",
                "baseline_requests",
                "failover_ms",
                "first_standby_ms",
                "failover_errors",
                "failover_requests",
                "failback_ms",
                "failback_errors",
                "failback_requests",
            ]
            .map(String::from)
            .to_vec(),
            summary: "scales the primary app to zero and times the failover and failback".into(),
        })
    }

    fn run(input: Invocation) -> Result<String, Error> {
        let p: Params = runner_plugin::params(&input.params)?;
        // A drill killed half way left the primary scaled down: put it back first.
        restore(&p.deployment())?;
        let url = target_url(&p)?;
        runner_plugin::outputs(&drill(&p, &url)?)
    }

    fn destroy(input: Invocation, _recorded: Recorded) -> Result<(), Error> {
        let p: Params = runner_plugin::params(&input.params)?;
        restore(&p.deployment()).map(drop)
    }
}

runner_plugin::export!(Drill);

#[cfg(test)]
mod tests {
    use crate::measure::region_of;

    #[test]
    fn regions_come_from_the_zone_in_the_answer() {
        assert_eq!(
            region_of("Welcome to us-east-1c"),
            Some("us-east-1".to_string())
        );
        assert_eq!(
            region_of("Welcome to eu-west-2a\n"),
            Some("eu-west-2".to_string())
        );
        assert_eq!(region_of("<html>502 Bad Gateway</html>"), None);
    }
}
