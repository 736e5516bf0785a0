//! Connecting a run to its cloud. `sandbox` (the default) attaches to the local cloud in
//! `<state-dir>/sandbox`, starting it in the background if it is not running, so the
//! person's own `kubectl` and `aws` see what the run made. `aws` is an explicit choice:
//! the standard credential chain and kubeconfig contexts, and before anything runs it
//! prints the account and regions it will touch and applies the `[aws] account` guard.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use kube::config::{KubeConfigOptions, Kubeconfig};
use runner_workflow::Workflow;

use super::{Cloud, ClusterClient, errors};

/// Which cloud `exec` and `destroy` act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CloudKind {
    /// The embedded local cloud (started in the background when needed).
    Sandbox,
    /// Real AWS and EKS, through the standard credential chain and kubeconfig.
    Aws,
}

/// Why a run could not connect to its cloud.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The workflow or the environment is wrong in a way the user must fix.
    #[error("{0}")]
    Invalid(String),
    /// The cloud could not be reached or started.
    #[error("{0}")]
    Unavailable(String),
}

/// Whether the workflow needs a cloud at all: a step (or the policy) with a cloud
/// grant, clusters, or sandbox prerequisites.
pub fn needed(wf: &Workflow) -> bool {
    !wf.cloud.clusters.is_empty()
        || !wf.sandbox.hosted_zones.is_empty()
        || wf.steps.iter().any(|s| !s.grant.is_empty())
        || wf.policy.as_ref().is_some_and(|p| !p.grants.is_empty())
}

/// Connects to `kind` for `wf`. `global_args` are what a background sandbox needs to
/// find the same state directory (`--state-dir DIR`).
pub async fn connect(
    kind: CloudKind,
    wf: &Workflow,
    state_dir: &Path,
    global_args: &[String],
) -> Result<Cloud, ConnectError> {
    let cloud = match kind {
        CloudKind::Sandbox => sandbox(wf, state_dir, global_args).await?,
        CloudKind::Aws => aws(wf).await?,
    };
    guard(&cloud, wf).await?;
    if kind == CloudKind::Sandbox {
        // After the guard: a refused run changes nothing, prerequisites included.
        for zone in super::prereqs::ensure_zones(&cloud, &wf.sandbox.hosted_zones).await? {
            eprintln!(
                "note: created hosted zone `{zone}` in the sandbox ([sandbox] hosted_zones in {})",
                wf.file.display()
            );
        }
    }
    Ok(cloud)
}

/// The first retry backoff against the sandbox. It is on loopback: a failed call there
/// is an injected fault (`sandbox up --faults`), not an overloaded service, and a
/// second's wait per fault (the SDK default) would only make fault runs slow. Retries
/// are as many as against a real cloud's transient errors deserve (10 attempts), with the
/// standard mode's jittered exponential backoff.
const SANDBOX_FIRST_BACKOFF: Duration = Duration::from_millis(25);

async fn sandbox(
    wf: &Workflow,
    state_dir: &Path,
    global_args: &[String],
) -> Result<Cloud, ConnectError> {
    let dir = std::path::absolute(state_dir.join("sandbox"))
        .unwrap_or_else(|_| state_dir.join("sandbox"));
    let wanted: Vec<String> = wf
        .cloud
        .clusters
        .iter()
        .map(|(name, c)| format!("{name}={}", c.region))
        .collect();
    let (ep, attached) = runner_sandbox::cli::attach_or_start(&dir, global_args, &wanted)
        .await
        .map_err(|e| ConnectError::Unavailable(format!("starting the sandbox: {e:#}")))?;
    if attached == runner_sandbox::cli::Attached::Started {
        eprintln!(
            "note: started the sandbox in the background ({}); it keeps running after this run: `runner sandbox env` to use it, `runner sandbox down` to stop it",
            dir.display()
        );
    }
    let kubeconfig = Kubeconfig::read_from(&ep.kubeconfig).map_err(|e| {
        ConnectError::Unavailable(format!(
            "reading the sandbox kubeconfig {}: {e}",
            ep.kubeconfig.display()
        ))
    })?;
    let mut clusters = BTreeMap::new();
    for (name, declared) in &wf.cloud.clusters {
        let Some(served) = ep.clusters.iter().find(|c| &c.name == name) else {
            let running: Vec<&str> = ep.clusters.iter().map(|c| c.name.as_str()).collect();
            return Err(ConnectError::Invalid(format!(
                "the running sandbox has clusters {}, not `{name}` ([clusters.{name}] in {}); restart it with `runner sandbox down` and run again",
                running.join(", "),
                wf.file.display()
            )));
        };
        if served.region != declared.region {
            return Err(ConnectError::Invalid(format!(
                "the running sandbox has cluster `{name}` in {}, but [clusters.{name}] in {} says {}; restart it with `runner sandbox down` and run again",
                served.region,
                wf.file.display(),
                declared.region
            )));
        }
        let options = KubeConfigOptions {
            context: Some(served.context.clone()),
            ..Default::default()
        };
        let config = kube::Config::from_custom_kubeconfig(kubeconfig.clone(), &options)
            .await
            .map_err(|e| {
                ConnectError::Unavailable(format!("sandbox context {}: {e}", served.context))
            })?;
        clusters.insert(
            name.clone(),
            cluster_client(name, config, &declared.region, SANDBOX_FIRST_BACKOFF)?,
        );
    }
    let credentials = aws_sdk_sts::config::Credentials::new(
        ep.access_key_id.clone(),
        ep.secret_access_key.clone(),
        None,
        None,
        "runner-sandbox",
    );
    // No profile, environment or IMDS lookups: the sandbox's own endpoint and keys.
    let sdk = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(ep.region.clone()))
        .credentials_provider(aws_sdk_sts::config::SharedCredentialsProvider::new(
            credentials,
        ))
        .retry_config(
            aws_config::retry::RetryConfig::standard()
                .with_max_attempts(super::retry::MAX_ATTEMPTS)
                .with_initial_backoff(SANDBOX_FIRST_BACKOFF)
                .with_max_backoff(Duration::from_secs(2)),
        )
        .sleep_impl(aws_smithy_async::rt::sleep::SharedAsyncSleep::new(
            aws_smithy_async::rt::sleep::TokioSleep::new(),
        ))
        .build();
    let mut cloud = Cloud::new(CloudKind::Sandbox, sdk, Some(ep.aws.clone()), clusters);
    cloud.dns = ep.dataplane.dns.parse().ok();
    Ok(cloud)
}

/// A cluster's client, with the host's retries ([`super::retry`]): the first backoff is
/// short in the sandbox (loopback, where only injected faults fail) and longer against a
/// real cluster.
fn cluster_client(
    name: &str,
    config: kube::Config,
    region: &str,
    first_backoff: Duration,
) -> Result<ClusterClient, ConnectError> {
    let client = super::retry::client(config, first_backoff).map_err(|e| {
        ConnectError::Unavailable(format!("cluster `{name}`: {}", errors::chain(&e)))
    })?;
    Ok(ClusterClient {
        client,
        region: region.to_string(),
    })
}

async fn aws(wf: &Workflow) -> Result<Cloud, ConnectError> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(profile) = &wf.cloud.aws.profile {
        loader = loader.profile_name(profile);
    }
    let mut sdk = loader.load().await;
    if sdk.region().is_none() {
        let region = wf
            .cloud
            .clusters
            .values()
            .next()
            .map(|c| c.region.clone())
            .unwrap_or_else(|| super::ROUTE53_REGION.to_string());
        sdk = sdk.into_builder().region(Region::new(region)).build();
    }
    let mut clusters = BTreeMap::new();
    for (name, c) in &wf.cloud.clusters {
        let Some(context) = &c.context else {
            return Err(ConnectError::Invalid(format!(
                "[clusters.{name}] in {} has no `context`: --cloud aws reaches a cluster through a kubeconfig context (such as the one `aws eks update-kubeconfig --name {}` writes)",
                wf.file.display(),
                c.cluster
            )));
        };
        let options = KubeConfigOptions {
            context: Some(context.clone()),
            ..Default::default()
        };
        let config = kube::Config::from_kubeconfig(&options).await.map_err(|e| {
            ConnectError::Invalid(format!(
                "[clusters.{name}] context `{context}`: {}",
                errors::chain(&e)
            ))
        })?;
        clusters.insert(
            name.clone(),
            cluster_client(name, config, &c.region, Duration::from_millis(200))?,
        );
    }
    Ok(Cloud::new(CloudKind::Aws, sdk, None, clusters))
}

/// The account guard, and in aws mode the banner: the account and regions this run may
/// touch, before any step runs.
async fn guard(cloud: &Cloud, wf: &Workflow) -> Result<(), ConnectError> {
    if cloud.kind == CloudKind::Sandbox && wf.cloud.aws.account.is_none() {
        return Ok(());
    }
    let who = cloud.sts.get_caller_identity().send().await.map_err(|e| {
        ConnectError::Unavailable(format!(
            "asking AWS who the credentials belong to: {}",
            crate::engine::outcome::plugin_failure(errors::sdk("GetCallerIdentity", e)).message
        ))
    })?;
    let account = who.account().unwrap_or_default().to_string();
    wf.cloud
        .aws
        .check_account(&account)
        .map_err(|e| ConnectError::Invalid(format!("{e} in {}", wf.file.display())))?;
    if cloud.kind == CloudKind::Aws {
        let regions: Vec<&str> = wf.cloud.regions().into_iter().collect();
        eprintln!(
            "runner: --cloud aws: account {account} ({}); regions {}; Global Accelerator in {}; Route 53 (global)",
            who.arn().unwrap_or_default(),
            if regions.is_empty() {
                "none declared".to_string()
            } else {
                regions.join(", ")
            },
            super::GLOBAL_ACCELERATOR_REGION
        );
    }
    Ok(())
}
