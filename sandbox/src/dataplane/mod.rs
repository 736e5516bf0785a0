//! The sandbox's data plane: real traffic on loopback. Pods answer HTTP, ALBs proxy to
//! their targets, accelerators route by Global Accelerator's rules, and a DNS server
//! answers the hosted zones' records and the accelerator and ALB names. Every listener
//! has its real counterpart's timeouts and a bound on its connections ([`Limits`]).
//!
//! The parts meet only through the AWS state and the address files in the sandbox's
//! directory: an ALB's `listen` address and each accelerator endpoint's `health` are
//! fields of the state that the ALB part will write and the others read. Every part
//! reconciles from the state on a short tick, so it follows whatever the control plane
//! (or a person's `kubectl`/`aws`) changes.

pub mod accelerator;
pub mod alb;
mod alb_proxy;
pub mod dns;
pub(crate) mod http1;
pub mod limits;
pub mod netblock;
pub mod pods;

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use limits::Limits;
pub use netblock::NetBlock;

/// What every part of the data plane is started with.
#[derive(Clone)]
pub struct Context {
    pub aws: Arc<crate::aws::Aws>,
    pub clusters: Vec<Arc<crate::kube::Cluster>>,
    /// The sandbox's state directory (address allocations are kept there).
    pub dir: PathBuf,
    pub net: NetBlock,
    /// The region Global Accelerator treats as the clients' nearest (their "edge").
    pub home_region: String,
    /// The listeners' timeouts and connection bounds.
    pub limits: Limits,
    /// Becomes true when the sandbox stops.
    pub stop: watch::Receiver<bool>,
}

/// Where the data plane answers, for `runner sandbox status` and `endpoints.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DataPlaneEndpoints {
    /// `127.0.0.1:<port>`, UDP and TCP.
    pub dns: String,
}

/// Starts every part; the tasks end when `ctx.stop` turns true.
pub async fn start(ctx: Context) -> anyhow::Result<(DataPlaneEndpoints, Vec<JoinHandle<()>>)> {
    let mut tasks = Vec::new();
    tasks.extend(pods::start(ctx.clone()).await?);
    tasks.extend(alb::start(ctx.clone()).await?);
    tasks.extend(accelerator::start(ctx.clone()).await?);
    let (dns, dns_tasks) = dns::start(ctx).await?;
    tasks.extend(dns_tasks);
    Ok((DataPlaneEndpoints { dns }, tasks))
}
