//! The sandbox: an embedded local cloud that speaks the real Kubernetes and AWS wire
//! protocols on loopback, so runner's own clients and a person's `kubectl` and `aws`
//! CLI exercise the same code paths they would against real clouds.
//!
//! [`Sandbox::start`] is the library entry point (tests start it in-process);
//! [`cli`] is `runner sandbox up|down|status|env|kubeconfig|reset`.
//!
//! Files in the state directory: `config.json` (the [`SandboxConfig`]), `ports.json`
//! (ports chosen at first start, reused so endpoints never change), `endpoints.json`
//! (what the running sandbox serves), `aws.json` (the AWS account), `kube-<cluster>.json`
//! (each cluster's objects), `kubeconfig`, the data plane's `net.json` (its loopback
//! /24), `dns.json` (the DNS port) and `pods.json` (each pod's address), `faults.json`
//! (what `--faults` injected, see [`faults`]), and for `up` `sandbox.pid` / `sandbox.log`.

pub mod aws;
pub mod cli;
pub mod config;
pub mod dataplane;
pub mod faults;
#[doc(hidden)]
pub mod fuzzing;
pub mod kube;
pub mod persist;
pub mod provider;
pub mod serving;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use crate::config::{ClusterSpec, SandboxConfig};
use crate::provider::LoadBalancers;

pub const CONFIG_FILE: &str = "config.json";
pub const PORTS_FILE: &str = "ports.json";
pub const ENDPOINTS_FILE: &str = "endpoints.json";
pub const AWS_STATE_FILE: &str = "aws.json";
pub const KUBECONFIG_FILE: &str = "kubeconfig";

/// One cluster's API server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterEndpoint {
    pub name: String,
    pub region: String,
    /// `http://127.0.0.1:<port>`
    pub url: String,
    /// The kubeconfig context for it (`sandbox-<name>`).
    pub context: String,
}

/// Everything a client needs to reach the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoints {
    /// One URL for Global Accelerator, Route 53, ELBv2 and STS: `http://127.0.0.1:<port>`.
    pub aws: String,
    pub clusters: Vec<ClusterEndpoint>,
    /// A kubeconfig with one context per cluster.
    pub kubeconfig: PathBuf,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// The region clients default to: the first cluster's.
    pub region: String,
    /// The data plane's DNS server and other listeners.
    #[serde(default)]
    pub dataplane: dataplane::DataPlaneEndpoints,
}

/// The ports a sandbox chose the first time it started, reused afterwards.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Ports {
    aws: Option<u16>,
    #[serde(default)]
    clusters: BTreeMap<String, u16>,
}

/// Starts sandboxes.
pub struct Sandbox;

/// A running sandbox. Dropping it without [`SandboxHandle::shutdown`] leaves its tasks
/// running until the runtime ends; state is saved after every change either way.
pub struct SandboxHandle {
    config: SandboxConfig,
    endpoints: Endpoints,
    aws: Arc<aws::Aws>,
    stop: watch::Sender<bool>,
    aws_task: JoinHandle<()>,
    cluster_tasks: Vec<JoinHandle<()>>,
    dataplane_tasks: Vec<JoinHandle<()>>,
    clusters: Vec<Arc<kube::Cluster>>,
    /// The fault injector (`--faults`) and the task that writes its counts.
    faults: Option<(Arc<faults::Faults>, JoinHandle<()>)>,
}

async fn bind(port: Option<u16>, what: &str, state_dir: &Path) -> Result<TcpListener> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port.unwrap_or(0)));
    serving::listen::bind(addr).with_context(|| match port {
        Some(p) => format!(
            "binding {what} to 127.0.0.1:{p}, the port this sandbox used before (kept in {}); is another sandbox running on it?",
            state_dir.join(PORTS_FILE).display()
        ),
        None => format!("binding {what} to a free loopback port"),
    })
}

impl Sandbox {
    /// Loads the persisted state under `config.state_dir`, binds the AWS listener and one
    /// listener per cluster on 127.0.0.1 (the same ports as last time), starts the
    /// servers and controllers, and writes `config.json`, `endpoints.json` and `kubeconfig`.
    pub async fn start(config: SandboxConfig) -> Result<SandboxHandle> {
        let dir = config.state_dir.clone();
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        config::validate(&config)?;
        persist::save(&dir.join(CONFIG_FILE), &config)?;
        serving::listen::raise_open_files_limit();

        let mut ports: Ports = persist::load(&dir.join(PORTS_FILE))?.unwrap_or_default();
        let aws_listener = bind(ports.aws, "the AWS endpoint", &dir).await?;
        ports.aws = Some(aws_listener.local_addr()?.port());
        let mut cluster_listeners = Vec::new();
        for spec in &config.clusters {
            let l = bind(
                ports.clusters.get(&spec.name).copied(),
                &format!("cluster {}", spec.name),
                &dir,
            )
            .await?;
            ports
                .clusters
                .insert(spec.name.clone(), l.local_addr()?.port());
            cluster_listeners.push(l);
        }
        persist::save(&dir.join(PORTS_FILE), &ports)?;

        let net = dataplane::NetBlock::load_or_new(&dir)?;
        let aws = aws::Aws::open(aws::AwsSettings {
            account_id: config.account_id.clone(),
            access_key_id: config.access_key_id.clone(),
            secret_access_key: config.secret_access_key.clone(),
            transition_delay_ms: config.transition_delay.as_millis() as u64,
            state_path: dir.join(AWS_STATE_FILE),
            net: Some(net),
        })?;
        let faults = start_faults(&config)?;
        if let Some((f, _)) = &faults {
            aws.inject_faults(f.clone());
        }
        let (stop, mut stopped) = watch::channel(false);
        let router = aws.router();
        let aws_limits = serving::Limits::aws().with_timeouts(config.api_timeouts);
        let aws_task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.wait_for(|s| *s).await;
            };
            serving::serve(aws_listener, router, aws_limits, shutdown).await;
        });

        let mut clusters = Vec::new();
        let mut cluster_tasks = Vec::new();
        let mut cluster_endpoints = Vec::new();
        let lbs: Arc<dyn LoadBalancers> = aws.clone();
        for (spec, listener) in config.clusters.iter().zip(cluster_listeners) {
            let url = format!("http://{}", listener.local_addr()?);
            let cluster = kube::Cluster::open(spec, &config, lbs.clone())
                .with_context(|| format!("opening cluster {}", spec.name))?;
            if let Some((f, _)) = &faults {
                cluster.inject_faults(f.clone());
            }
            let served = cluster.clone();
            let name = spec.name.clone();
            cluster_tasks.push(tokio::spawn(async move {
                if let Err(e) = kube::serve(served, listener).await {
                    tracing::error!(cluster = %name, "the Kubernetes API stopped: {e:#}");
                }
            }));
            clusters.push(cluster);
            cluster_endpoints.push(ClusterEndpoint {
                name: spec.name.clone(),
                region: spec.region.clone(),
                url,
                context: format!("sandbox-{}", spec.name),
            });
        }
        let (dataplane, dataplane_tasks) = dataplane::start(dataplane::Context {
            aws: aws.clone(),
            clusters: clusters.clone(),
            dir: dir.clone(),
            net,
            home_region: config.home_region(),
            limits: config.dataplane.clone(),
            stop: stop.subscribe(),
        })
        .await
        .context("starting the data plane")?;
        let kubeconfig = dir.join(KUBECONFIG_FILE);
        let pairs: Vec<(String, String)> = cluster_endpoints
            .iter()
            .map(|c| (c.name.clone(), c.url.clone()))
            .collect();
        write_file(&kubeconfig, kube::kubeconfig(&pairs).as_bytes())?;

        let endpoints = Endpoints {
            aws: format!("http://127.0.0.1:{}", ports.aws.unwrap_or_default()),
            clusters: cluster_endpoints,
            kubeconfig,
            access_key_id: config.access_key_id.clone(),
            secret_access_key: config.secret_access_key.clone(),
            region: config
                .clusters
                .first()
                .map(|c| c.region.clone())
                .unwrap_or_else(|| "us-east-1".into()),
            dataplane,
        };
        persist::save(&dir.join(ENDPOINTS_FILE), &endpoints)?;
        tracing::info!(aws = %endpoints.aws, clusters = endpoints.clusters.len(), "sandbox started");
        Ok(SandboxHandle {
            config,
            endpoints,
            aws,
            stop,
            aws_task,
            cluster_tasks,
            dataplane_tasks,
            clusters,
            faults,
        })
    }
}

/// The fault injector `config` asks for, with a task writing its counts to
/// `faults.json` every 200 ms. Without faults, an old `faults.json` is removed so
/// that it never describes a sandbox that injects nothing.
fn start_faults(config: &SandboxConfig) -> Result<Option<(Arc<faults::Faults>, JoinHandle<()>)>> {
    let path = config.state_dir.join(faults::FAULTS_FILE);
    let Some(fc) = &config.faults else {
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("removing {}", path.display()));
            }
            _ => return Ok(None),
        }
    };
    let f = Arc::new(faults::Faults::new(fc, Some(path))?);
    f.flush()?;
    tracing::warn!(spec = %fc.spec, seed = fc.seed, "injecting faults");
    let writer = f.clone();
    let task = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if let Err(e) = writer.flush() {
                tracing::warn!("writing the fault counts failed: {e:#}");
            }
        }
    });
    Ok(Some((f, task)))
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().context("no parent directory")?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, bytes)?;
    tmp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

impl SandboxHandle {
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    pub fn config(&self) -> &SandboxConfig {
        &self.config
    }

    /// The emulated AWS account (also the clusters' [`LoadBalancers`]).
    pub fn aws(&self) -> &Arc<aws::Aws> {
        &self.aws
    }

    pub fn clusters(&self) -> &[Arc<kube::Cluster>] {
        &self.clusters
    }

    /// What the fault injector did so far (None without `--faults`).
    pub fn fault_counts(&self) -> Option<faults::Counts> {
        self.faults.as_ref().map(|(f, _)| f.counts())
    }

    /// Stops serving (in-flight AWS requests finish, bounded by 5 s), stops the
    /// clusters and saves every piece of state.
    pub async fn shutdown(self) -> Result<()> {
        let _ = self.stop.send(true);
        let mut aws_task = self.aws_task;
        if tokio::time::timeout(Duration::from_secs(5), &mut aws_task)
            .await
            .is_err()
        {
            aws_task.abort();
        }
        for t in self.cluster_tasks.iter().chain(&self.dataplane_tasks) {
            t.abort();
        }
        for t in self.dataplane_tasks {
            let _ = t.await;
        }
        for t in self.cluster_tasks {
            let _ = t.await;
        }
        self.aws.save()?;
        for c in &self.clusters {
            c.flush()?;
        }
        if let Some((f, task)) = self.faults {
            task.abort();
            f.flush()?;
        }
        Ok(())
    }
}
