//! An emulated Kubernetes cluster: an API server that stock kubectl and kube-rs accept
//! (discovery, CRUD, patch, watch, Status errors), the controllers that make Deployments,
//! Jobs, Services and ALB Ingresses behave, and crash-safe persistence of every object
//! (a client's write is on disk before it is acknowledged).
//!
//! Layout: `store` (objects, resourceVersions, history), `resources` (the kinds served),
//! `objects` (the write path every client and controller goes through: metadata,
//! defaults, validation, finalizers), `decoding` (typed decoding, unknown fields, size
//! limits) over `go_types` (the built-in kinds' Go types), `admission` (defaulting, 422
//! rules, custom resources' schemas), `names` (name and label syntax), `immutable`
//! (what an update may not change), `query` (request parameters), `managed_fields`
//! (field ownership and server-side apply's conflicts), `api` (HTTP), `controllers`,
//! `patch`, `selector`, `table` (server-side printing), `protobuf` (the writes of
//! kubectl's typed clients).
//!
//! Choices, and why:
//! - Discovery is served both ways: aggregated (`apidiscovery.k8s.io/v2`, what kubectl
//!   1.32 asks for first: two requests instead of one per group-version) and classic
//!   (`/api`, `/apis`, `/apis/<g>/<v>`, what kube-rs reads).
//! - OpenAPI v3 is served, but minimal: per group-version, each kind's paths with the
//!   `x-kubernetes-group-version-kind` and the `fieldValidation` parameter. That is what
//!   kubectl checks before it leaves validation to the server, so `kubectl apply` runs with
//!   its default `--validate=strict` and the server answers unknown fields of the built-in
//!   kinds with the same "strict decoding error" a real API server gives. The documents
//!   carry no schemas, so `kubectl explain` does not work.
//! - Built-in kinds are decoded as kube-apiserver decodes them into their Go types: a
//!   value of the wrong JSON type is a 400 with Go's unmarshal error, never stored. The
//!   types are a table (`go_types`) rather than the OpenAPI schemas, which the sandbox
//!   does not serve; the kinds not in it only have their metadata checked.
//! - Custom resources are pruned, defaulted and type-checked against their CRD's
//!   structural `openAPIV3Schema` (storage version; no conversion between versions, no
//!   CEL rules, no format or length checks).
//! - kubectl's typed clients (`create namespace|deployment|job|ingress|configmap|secret`,
//!   `expose`, `run`, `create role...`) write protobuf and cannot fall back to JSON, so
//!   those kinds are decoded from protobuf; answers are always JSON, which they accept.
//! - Field ownership is kept in managedFields as kube-apiserver keeps it
//!   (`managed_fields`): every API write records its manager's fields, a server-side
//!   apply that would change another manager's field is a 409 Conflict unless
//!   `force=true`, and a field an applier stops sending is removed unless another
//!   manager still owns it. The sandbox's own controllers are not recorded.
//! - Deleting a pod removes it at once (no graceful termination); finalizers are honoured.
//! - Request bodies are JSON (or protobuf, as above): `application/yaml` gets 415, and an
//!   `application/apply-patch+yaml` body must be JSON, which is what kubectl and kube-rs send.

mod admission;
mod api;
mod controllers;
mod decoding;
mod go_types;
mod immutable;
pub(crate) mod managed_fields;
mod names;
mod objects;
pub(crate) mod patch;
pub(crate) mod protobuf;
mod query;
mod resources;
mod selector;
mod status;
mod store;
mod table;
mod time;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::{Notify, broadcast};

use crate::config::{ClusterSpec, SandboxConfig};
use crate::persist;
use crate::provider::LoadBalancers;

pub use objects::{DeleteOptions, Part, WriteOptions};
pub use resources::ResourceType;
pub use status::ApiError;
use store::Store;
pub use store::{Change, EventType};

/// One emulated cluster: object store, watch fan-out, controllers.
pub struct Cluster {
    name: String,
    region: String,
    transition_delay: Duration,
    snapshot_path: PathBuf,
    lbs: Arc<dyn LoadBalancers>,
    store: Mutex<Store>,
    changes: broadcast::Sender<Change>,
    /// Wakes the controllers after every write.
    wake: Notify,
    dirty: AtomicBool,
    flush_lock: Mutex<()>,
    /// False once `serve` has stopped: open watch streams end then.
    serving: tokio::sync::watch::Sender<bool>,
    /// When a controller first saw an object that must wait `transition_delay` (pod
    /// readiness, ALB provisioning), by uid. In memory only: after a restart the wait
    /// simply starts again.
    timers: Mutex<HashMap<String, Instant>>,
    /// The ALB behind each Ingress, by `alb:<uid>:<generation>`, so the provider is asked
    /// once per spec change rather than on every pass.
    albs: Mutex<HashMap<String, crate::provider::AlbInfo>>,
    /// Requests served, for tests that prove a call never reached the server
    /// (`GET /_sandbox/requests`, which is not counted).
    pub(crate) requests: std::sync::atomic::AtomicU64,
    /// The fault injector, when the sandbox runs with `--faults`.
    faults: std::sync::OnceLock<Arc<crate::faults::Faults>>,
    /// What its API listener allows a client (kube-apiserver's timeouts and limits).
    limits: crate::serving::Limits,
}

/// The API verbs (and `discovery`: `/api`, `/apis`, `/openapi`, `/version`) that
/// `--faults` may name for `kube`.
pub const OPERATIONS: &[&str] = &[
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
    "discovery",
];

impl Cluster {
    /// Loads the persisted objects of this cluster from cfg.state_dir (or starts empty).
    pub fn open(
        spec: &ClusterSpec,
        cfg: &SandboxConfig,
        lbs: Arc<dyn LoadBalancers>,
    ) -> anyhow::Result<Arc<Cluster>> {
        let snapshot_path = cfg.state_dir.join(format!("kube-{}.json", spec.name));
        let store = persist::load(&snapshot_path)
            .with_context(|| format!("loading cluster {}", spec.name))?
            .map(Store::from_snapshot)
            .unwrap_or_default();
        let (changes, _) = broadcast::channel(4096);
        let cluster = Arc::new(Cluster {
            name: spec.name.clone(),
            region: spec.region.clone(),
            transition_delay: cfg.transition_delay,
            snapshot_path,
            lbs,
            store: Mutex::new(store),
            changes,
            wake: Notify::new(),
            dirty: AtomicBool::new(false),
            flush_lock: Mutex::new(()),
            serving: tokio::sync::watch::Sender::new(true),
            timers: Mutex::new(HashMap::new()),
            albs: Mutex::new(HashMap::new()),
            requests: std::sync::atomic::AtomicU64::new(0),
            limits: crate::serving::Limits::kube().with_timeouts(cfg.api_timeouts),
            faults: std::sync::OnceLock::new(),
        });
        cluster.bootstrap();
        cluster.flush()?;
        Ok(cluster)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// Makes this cluster's API calls subject to `faults` (once, before serving).
    pub fn inject_faults(&self, faults: Arc<crate::faults::Faults>) {
        let _ = self.faults.set(faults);
    }

    /// Rolls for one API call with verb `op`.
    fn fault(&self, op: &str) -> Option<crate::faults::Fault> {
        self.faults.get()?.decide(crate::faults::Service::Kube, op)
    }

    /// Every change from now on (for the data plane: endpoints, pods, ingresses). A
    /// receiver that falls behind gets `Lagged` and should re-read with [`Cluster::list`].
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// Writes the snapshot now if anything changed since the last one.
    pub fn flush(&self) -> anyhow::Result<()> {
        // One writer at a time, so an older snapshot never replaces a newer one.
        let _writer = self.flush_lock.lock().unwrap_or_else(|p| p.into_inner());
        if !self.dirty.swap(false, Ordering::SeqCst) && self.snapshot_path.exists() {
            return Ok(());
        }
        let snapshot = self.lock().snapshot();
        persist::save(&self.snapshot_path, &snapshot)
            .inspect_err(|_| self.dirty.store(true, Ordering::SeqCst))
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Called with the store lock held, after every write.
    fn published(&self, change: Change) {
        self.dirty.store(true, Ordering::SeqCst);
        let _ = self.changes.send(change);
        self.wake.notify_one();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Err(e) = self.flush() {
            tracing::warn!(cluster = %self.name, "saving the cluster state failed: {e:#}");
        }
    }
}

/// Flushes the snapshot when `serve` ends or its future is dropped.
struct FlushOnDrop(Arc<Cluster>);

impl Drop for FlushOnDrop {
    fn drop(&mut self) {
        self.0.serving.send_replace(false);
        if let Err(e) = self.0.flush() {
            tracing::warn!(cluster = %self.0.name, "saving the cluster state failed: {e:#}");
        }
    }
}

/// Serves the cluster's API on the listener and runs its controllers until the future is dropped.
pub async fn serve(cluster: Arc<Cluster>, listener: tokio::net::TcpListener) -> anyhow::Result<()> {
    cluster.serving.send_replace(true);
    let _flush = FlushOnDrop(cluster.clone());
    let app = api::router(cluster.clone());
    let saver = async {
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if let Err(e) = cluster.flush() {
                tracing::warn!(cluster = %cluster.name, "saving the cluster state failed: {e:#}");
            }
        }
    };
    tokio::select! {
        () = crate::serving::serve(listener, app, cluster.limits.clone(), std::future::pending()) => {},
        _ = controllers::run(cluster.clone()) => {},
        _ = saver => {},
    }
    Ok(())
}

/// A kubeconfig (YAML text) with one context per cluster, named `sandbox-<cluster>`;
/// current-context the first.
pub fn kubeconfig(clusters: &[(String, String)]) -> String {
    let list = |items: Vec<String>| {
        if items.is_empty() {
            " []\n".to_string()
        } else {
            format!("\n{}", items.concat())
        }
    };
    let entries = clusters
        .iter()
        .map(|(name, url)| format!("- name: sandbox-{name}\n  cluster:\n    server: {url}\n"))
        .collect();
    let contexts = clusters
        .iter()
        .map(|(name, _)| {
            format!(
                "- name: sandbox-{name}\n  context:\n    cluster: sandbox-{name}\n    user: sandbox\n    namespace: default\n"
            )
        })
        .collect();
    let mut out = format!(
        "apiVersion: v1\nkind: Config\npreferences: {{}}\nclusters:{}users:\n- name: sandbox\n  user:\n    token: sandbox\ncontexts:{}",
        list(entries),
        list(contexts)
    );
    if let Some((first, _)) = clusters.first() {
        out += &format!("current-context: sandbox-{first}\n");
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn kubeconfig_has_a_context_per_cluster() {
        let k = super::kubeconfig(&[
            ("primary".into(), "http://127.0.0.1:1".into()),
            ("secondary".into(), "http://127.0.0.1:2".into()),
        ]);
        assert!(
            k.contains("- name: sandbox-secondary\n  cluster:\n    server: http://127.0.0.1:2\n")
        );
        assert!(k.ends_with("current-context: sandbox-primary\n"));
        assert!(super::kubeconfig(&[]).contains("clusters: []\n"));
    }
}
