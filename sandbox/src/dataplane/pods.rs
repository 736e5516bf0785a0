//! Pods answer HTTP on loopback: every pod that is Running and Ready gets a listener on
//! one of the sandbox's pod addresses, so the ALBs (and a person's `curl`) reach real
//! sockets whose lifetime follows the pod's: not ready or gone means connection refused.
//!
//! Addresses are allocated per pod uid and kept in `pods.json` (with what each pod
//! answers), so a restarted sandbox gives a pod the same address. A pod gets the
//! container's first `containerPort` on the first pod IP where that port is free, else
//! an ephemeral port. The live map is shared in-process through [`registry`], keyed by
//! the sandbox's state directory, for the ALB part to find its targets.
//!
//! What a pod answers (`GET`/`HEAD` any path, 200; other methods 405):
//! - an image containing `eks-py-az` (the tutorial's `public.ecr.aws/b5x3e7x1/eks-py-az`):
//!   `Welcome to <availability zone>`, no trailing newline, like the real Flask app;
//! - any other image, the generic responder: `200 text/plain`,
//!   `<pod> (<namespace>) in <cluster> <zone>: <image>\n`.
//!
//! Every answer carries `x-sandbox-pod: <namespace>/<pod>` and `x-sandbox-zone: <zone>`.
//!
//! A pod's zone: its `topology.kubernetes.io/zone` label or nodeSelector, or the label of
//! a node it runs on other than the cluster's one emulated node (that node stands for a
//! whole multi-zone node group, so its own zone label says nothing about the pod). Else
//! the zone is chosen when the address is allocated, and kept with it: the one of
//! `<region>a|b|c` with the fewest pods of the same owner (ReplicaSet, ...), ties broken
//! by a stable hash of the pod name. That spreads replicas the way a topology spread
//! constraint would, deterministically: three replicas land in three zones.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::Context;
use super::limits::PodLimits;
use crate::kube::Cluster;
use crate::persist;
use crate::serving::listen::{self, Gate};

/// The allocations and what each pod answers, in the state directory.
pub const PODS_FILE: &str = "pods.json";
/// How often the pods are compared with the listeners.
const TICK: Duration = Duration::from_millis(100);
/// What a pod at its connection bound answers a new connection, before closing it.
const OVERLOADED: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
/// The tutorial's image (`public.ecr.aws/b5x3e7x1/eks-py-az`) is recognised by this part.
const TUTORIAL_IMAGE: &str = "eks-py-az";
const ZONE_KEY: &str = "topology.kubernetes.io/zone";
/// How many addresses `NetBlock::pod_ip` has.
const POD_IPS: u32 = 54;

/// One pod's address and what it answers, as kept in `pods.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodEntry {
    pub cluster: String,
    pub namespace: String,
    pub name: String,
    /// Where the pod answers (on loopback), whether or not it does right now.
    pub address: SocketAddr,
    pub zone: String,
    /// The image of the pod's first container.
    pub image: String,
    /// The cluster-internal IP (`status.podIP`), which Endpoints and target groups name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_ip: Option<String>,
    /// The uid of the pod's first owner (its ReplicaSet...), for spreading over zones.
    #[serde(default)]
    pub owner: String,
    /// True while the pod is Running and Ready and its listener is open.
    pub listening: bool,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct PodsFile {
    /// By pod uid.
    #[serde(default)]
    pods: BTreeMap<String, PodEntry>,
}

/// The current pod addresses of one sandbox, by pod uid; updated on every change.
#[derive(Debug, Default)]
pub struct PodAddresses {
    pods: RwLock<BTreeMap<String, PodEntry>>,
}

impl PodAddresses {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, PodEntry>> {
        self.pods.read().unwrap_or_else(|p| p.into_inner())
    }

    fn find(&self, f: impl Fn(&PodEntry) -> bool) -> Option<PodEntry> {
        self.read().values().find(|e| f(e)).cloned()
    }

    /// Where a pod answers now; None when it is not ready (or unknown).
    pub fn address(&self, cluster: &str, namespace: &str, pod: &str) -> Option<SocketAddr> {
        self.find(|e| {
            e.listening && e.cluster == cluster && e.namespace == namespace && e.name == pod
        })
        .map(|e| e.address)
    }

    /// Where the pod with this `status.podIP` answers now (what an Endpoints address or
    /// an `ip` target names).
    pub fn address_of_pod_ip(&self, cluster: &str, pod_ip: &str) -> Option<SocketAddr> {
        self.find(|e| e.listening && e.cluster == cluster && e.pod_ip.as_deref() == Some(pod_ip))
            .map(|e| e.address)
    }

    /// A known pod's entry, listening or not.
    pub fn get(&self, cluster: &str, namespace: &str, pod: &str) -> Option<PodEntry> {
        self.find(|e| e.cluster == cluster && e.namespace == namespace && e.name == pod)
    }

    /// Every known pod, by uid.
    pub fn all(&self) -> BTreeMap<String, PodEntry> {
        self.read().clone()
    }

    fn set(&self, pods: BTreeMap<String, PodEntry>) {
        *self.pods.write().unwrap_or_else(|p| p.into_inner()) = pods;
    }
}

/// The pod addresses of the sandbox whose state directory is `dir` (the same path the
/// data plane's [`Context::dir`] holds). Empty until that sandbox's pods part runs; a
/// sandbox started again in the same process on the same directory shares it.
pub fn registry(dir: &Path) -> Arc<PodAddresses> {
    static REGISTRY: OnceLock<Mutex<HashMap<PathBuf, Arc<PodAddresses>>>> = OnceLock::new();
    let mut map = REGISTRY
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    map.entry(dir.to_path_buf()).or_default().clone()
}

/// Shorthand for `registry(dir).address(...)`.
pub fn address(dir: &Path, cluster: &str, namespace: &str, pod: &str) -> Option<SocketAddr> {
    registry(dir).address(cluster, namespace, pod)
}

/// Starts the reconcile task; it ends when `ctx.stop` turns true, closing every listener.
pub async fn start(ctx: Context) -> anyhow::Result<Vec<JoinHandle<()>>> {
    let path = ctx.dir.join(PODS_FILE);
    let mut pods = match persist::load::<PodsFile>(&path) {
        Ok(f) => f.unwrap_or_default().pods,
        Err(e) => {
            // Losing the allocations only moves pods to new addresses: not worth refusing to start.
            tracing::warn!("ignoring the pod addresses in {}: {e:#}", path.display());
            BTreeMap::new()
        }
    };
    for e in pods.values_mut() {
        e.listening = false;
    }
    let registry = registry(&ctx.dir);
    registry.set(pods.clone());
    let mut r = Reconciler {
        registry: registry.clone(),
        path,
        pods,
        live: HashMap::new(),
        written: None,
        warned: HashSet::new(),
        ctx,
    };
    Ok(vec![tokio::spawn(async move {
        let _offline = MarkOffline(registry);
        let mut stop = r.ctx.stop.clone();
        loop {
            if *stop.borrow() {
                break;
            }
            r.pass();
            tokio::select! {
                _ = tokio::time::sleep(TICK) => {}
                changed = stop.changed() => if changed.is_err() { break },
            }
        }
        r.live.clear();
        for e in r.pods.values_mut() {
            e.listening = false;
        }
        r.publish();
    })])
}

/// Marks every pod not listening when the task ends, even when it is aborted.
struct MarkOffline(Arc<PodAddresses>);

impl Drop for MarkOffline {
    fn drop(&mut self) {
        let mut pods = self.0.all();
        for e in pods.values_mut() {
            e.listening = false;
        }
        self.0.set(pods);
    }
}

struct Reconciler {
    ctx: Context,
    registry: Arc<PodAddresses>,
    path: PathBuf,
    /// Allocations of existing pods, by uid.
    pods: BTreeMap<String, PodEntry>,
    /// Open listeners, by uid. Dropping one closes its socket.
    live: HashMap<String, Live>,
    /// The `pods.json` last written, to write only changes.
    written: Option<Vec<u8>>,
    /// Pods whose address could not be bound, warned about once.
    warned: HashSet<String>,
}

/// What the reconciler needs of one pod.
struct PodView {
    cluster: String,
    uid: String,
    namespace: String,
    name: String,
    ready: bool,
    image: String,
    port: Option<u16>,
    pod_ip: Option<String>,
    owner: String,
    /// A zone the pod or its node names.
    zone: Option<String>,
}

impl Reconciler {
    fn pass(&mut self) {
        let mut seen = Vec::new();
        for c in &self.ctx.clusters {
            let (pods, _) = c.list(&Cluster::builtin_type("pods"), None);
            let nodes = node_zones(c);
            seen.extend(pods.iter().filter_map(|p| view(c, p, &nodes)));
        }
        seen.sort_by(|a, b| {
            (&a.cluster, &a.namespace, &a.name).cmp(&(&b.cluster, &b.namespace, &b.name))
        });
        let exists: HashSet<&str> = seen.iter().map(|p| p.uid.as_str()).collect();
        self.pods.retain(|uid, _| exists.contains(uid.as_str()));
        self.live.retain(|uid, _| exists.contains(uid.as_str()));
        self.warned.retain(|uid| exists.contains(uid.as_str()));

        for pod in &seen {
            if !pod.ready {
                self.live.remove(&pod.uid);
                if let Some(e) = self.pods.get_mut(&pod.uid) {
                    e.listening = false;
                }
                continue;
            }
            if self.live.contains_key(&pod.uid) {
                continue;
            }
            let listener = match self.pods.get(&pod.uid) {
                Some(e) => match bind(e.address) {
                    Ok(l) => {
                        self.warned.remove(&pod.uid);
                        l
                    }
                    Err(err) => {
                        // Kept, not moved: the address is the pod's, and is likely free
                        // again on a later tick (a previous run's socket still closing).
                        if self.warned.insert(pod.uid.clone()) {
                            tracing::warn!(pod = %format!("{}/{}", pod.namespace, pod.name), address = %e.address,
                                "cannot listen on the pod's address yet: {err}");
                        }
                        continue;
                    }
                },
                None => match self.allocate(pod) {
                    Some(l) => l,
                    None => continue,
                },
            };
            let Some(entry) = self.pods.get_mut(&pod.uid) else {
                continue;
            };
            entry.listening = true;
            entry.pod_ip = pod.pod_ip.clone();
            let limits = self.ctx.limits.pods.clone();
            self.live
                .insert(pod.uid.clone(), serve(listener, Answer::new(entry), limits));
        }
        self.publish();
    }

    /// Picks and binds a new address and zone for a ready pod and records them.
    fn allocate(&mut self, pod: &PodView) -> Option<TcpListener> {
        let taken: BTreeSet<SocketAddr> = self.pods.values().map(|e| e.address).collect();
        let mut found = None;
        if let Some(port) = pod.port {
            for i in 0..POD_IPS {
                let addr = SocketAddr::new(IpAddr::V4(self.ctx.net.pod_ip(i)), port);
                if taken.contains(&addr) {
                    continue;
                }
                if let Ok(l) = bind(addr) {
                    found = Some((addr, l));
                    break;
                }
            }
        }
        if found.is_none() {
            // The least used pod IP, any port.
            let ip = (0..POD_IPS)
                .map(|i| self.ctx.net.pod_ip(i))
                .min_by_key(|ip| taken.iter().filter(|a| a.ip() == IpAddr::V4(*ip)).count())
                .unwrap_or_else(|| self.ctx.net.pod_ip(0));
            match bind(SocketAddr::new(IpAddr::V4(ip), 0)) {
                Ok(l) => match l.local_addr() {
                    Ok(a) => found = Some((a, l)),
                    Err(e) => tracing::error!("reading a pod listener's address: {e}"),
                },
                Err(e) => {
                    if self.warned.insert(pod.uid.clone()) {
                        tracing::error!(pod = %format!("{}/{}", pod.namespace, pod.name), %ip,
                            "cannot listen for the pod on any port: {e}");
                    }
                }
            }
        }
        let (address, listener) = found?;
        let zone = pod.zone.clone().unwrap_or_else(|| self.spread(pod));
        self.pods.insert(
            pod.uid.clone(),
            PodEntry {
                cluster: pod.cluster.clone(),
                namespace: pod.namespace.clone(),
                name: pod.name.clone(),
                address,
                zone,
                image: pod.image.clone(),
                pod_ip: pod.pod_ip.clone(),
                owner: pod.owner.clone(),
                listening: false,
            },
        );
        Some(listener)
    }

    /// The region's zone with the fewest pods of the same owner; ties go to the first
    /// from a stable hash of the pod name on.
    fn spread(&self, pod: &PodView) -> String {
        let region = self
            .ctx
            .clusters
            .iter()
            .find(|c| c.name() == pod.cluster)
            .map(|c| c.region().to_string())
            .unwrap_or_default();
        let zones: Vec<String> = ["a", "b", "c"]
            .iter()
            .map(|s| format!("{region}{s}"))
            .collect();
        let start = stable_hash(&pod.name) as usize % zones.len();
        (0..zones.len())
            .map(|k| &zones[(start + k) % zones.len()])
            .min_by_key(|z| {
                self.pods
                    .values()
                    .filter(|e| e.cluster == pod.cluster && e.owner == pod.owner && &&e.zone == z)
                    .count()
            })
            .cloned()
            .unwrap_or_default()
    }

    /// Shares the map and saves `pods.json` when it changed.
    fn publish(&mut self) {
        self.registry.set(self.pods.clone());
        let file = PodsFile {
            pods: self.pods.clone(),
        };
        let mut bytes = match serde_json::to_vec_pretty(&file) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!("serializing the pod addresses: {e}");
                return;
            }
        };
        bytes.push(b'\n');
        if self.written.as_ref() == Some(&bytes) {
            return;
        }
        match persist::save_bytes(&self.path, &bytes) {
            Ok(()) => self.written = Some(bytes),
            Err(e) => tracing::error!("saving {}: {e:#}", self.path.display()),
        }
    }
}

fn stable_hash(s: &str) -> u64 {
    let d = Sha256::digest(s.as_bytes());
    u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

/// The zone label of every node but the cluster's emulated one, by node name.
fn node_zones(c: &Cluster) -> HashMap<String, String> {
    let emulated = format!("sandbox-{}-node", c.name());
    let (nodes, _) = c.list(&Cluster::builtin_type("nodes"), None);
    nodes
        .iter()
        .filter_map(|n| {
            let name = n.pointer("/metadata/name")?.as_str()?;
            let zone = n.pointer("/metadata/labels")?.get(ZONE_KEY)?.as_str()?;
            (name != emulated && !zone.is_empty()).then(|| (name.to_string(), zone.to_string()))
        })
        .collect()
}

/// The parts of a pod this module uses; None for a pod without uid or name.
fn view(c: &Cluster, p: &Value, node_zones: &HashMap<String, String>) -> Option<PodView> {
    let s = |ptr: &str| {
        p.pointer(ptr)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let uid = s("/metadata/uid")?.to_string();
    let name = s("/metadata/name")?.to_string();
    let ready = s("/status/phase") == Some("Running")
        && p.pointer("/metadata/deletionTimestamp")
            .is_none_or(Value::is_null)
        && p.pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|cs| {
                cs.iter().any(|c| {
                    c.get("type").and_then(Value::as_str) == Some("Ready")
                        && c.get("status").and_then(Value::as_str) == Some("True")
                })
            });
    let containers = p.pointer("/spec/containers").and_then(Value::as_array);
    let image = containers
        .and_then(|cs| cs.first())
        .and_then(|c| c.get("image"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let port = containers
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("ports").and_then(Value::as_array))
        .flatten()
        .find_map(|p| p.get("containerPort").and_then(Value::as_u64))
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p != 0);
    let zone = s(&format!("/metadata/labels/{}", ZONE_KEY.replace('/', "~1")))
        .or_else(|| {
            s(&format!(
                "/spec/nodeSelector/{}",
                ZONE_KEY.replace('/', "~1")
            ))
        })
        .map(String::from)
        .or_else(|| node_zones.get(s("/spec/nodeName")?).cloned());
    let owner = p
        .pointer("/metadata/ownerReferences/0/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    Some(PodView {
        cluster: c.name().to_string(),
        uid,
        namespace: s("/metadata/namespace").unwrap_or("default").to_string(),
        name,
        ready,
        image,
        port,
        pod_ip: s("/status/podIP").map(String::from),
        owner,
        zone,
    })
}

/// A pod's listening socket: SO_REUSEADDR, so a restarted sandbox can take its pods'
/// addresses back while old connections linger in TIME_WAIT, and a deep backlog.
fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    listen::bind(addr)
}

/// What one pod answers, fixed when its listener opens (a pod's spec does not change).
struct Answer {
    body: String,
    content_type: &'static str,
    pod: Option<HeaderValue>,
    zone: Option<HeaderValue>,
}

impl Answer {
    fn new(e: &PodEntry) -> Answer {
        let (body, content_type) = if e.image.contains(TUTORIAL_IMAGE) {
            // The real app is Flask: text/html and no newline.
            (format!("Welcome to {}", e.zone), "text/html; charset=utf-8")
        } else {
            (
                format!(
                    "{} ({}) in {} {}: {}\n",
                    e.name, e.namespace, e.cluster, e.zone, e.image
                ),
                "text/plain; charset=utf-8",
            )
        };
        Answer {
            body,
            content_type,
            pod: HeaderValue::from_str(&format!("{}/{}", e.namespace, e.name)).ok(),
            zone: HeaderValue::from_str(&e.zone).ok(),
        }
    }
}

fn answer(a: &Answer, method: &Method) -> Response {
    let mut r = if method == Method::GET || method == Method::HEAD {
        let mut r = Response::new(Body::from(a.body.clone()));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(a.content_type),
        );
        r
    } else {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        r
    };
    if let Some(v) = &a.pod {
        r.headers_mut().insert("x-sandbox-pod", v.clone());
    }
    if let Some(v) = &a.zone {
        r.headers_mut().insert("x-sandbox-zone", v.clone());
    }
    r
}

/// An open pod listener. Dropping it closes the socket at once (new connections are
/// refused) and lets open connections finish their request and close.
struct Live {
    /// Dropped with the listener: its receivers (one per connection) see the pod stop.
    _stop: watch::Sender<()>,
    task: JoinHandle<()>,
}

impl Drop for Live {
    fn drop(&mut self) {
        // Aborting drops the listener; the dropped sender tells the connections to close.
        self.task.abort();
    }
}

/// Serves a pod's answer on `listener` with hyper's HTTP/1 server, whose header-read
/// timeout closes a connection that does not send a whole head in time, new or kept
/// alive (axum::serve does not expose it). At most `limits.max_connections` at once;
/// past it a new connection gets a 503 and is closed, never left in the backlog.
fn serve(listener: TcpListener, answer: Answer, limits: PodLimits) -> Live {
    let (stop, stopped) = watch::channel(());
    let answer = Arc::new(answer);
    let gate = Gate::new(limits.max_connections);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let task = tokio::spawn(async move {
        let addr = listener.local_addr().ok();
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off, as axum does.
                    tracing::warn!(address = ?addr, "accepting a pod connection: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Some(slot) = gate.enter() else {
                tracing::debug!(address = ?addr, "a pod at its connection bound: 503");
                tokio::spawn(listen::answer_and_close(stream, OVERLOADED));
                continue;
            };
            let _ = stream.set_nodelay(true);
            let answer = answer.clone();
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let response = self::answer(&answer, req.method());
                async move { Ok::<_, Infallible>(response) }
            });
            let conn = http.serve_connection(TokioIo::new(stream), service);
            let mut stopped = stopped.clone();
            tokio::spawn(async move {
                let _slot = slot;
                tokio::pin!(conn);
                tokio::select! {
                    r = conn.as_mut() => {
                        if let Err(e) = r {
                            tracing::debug!(address = ?addr, "a pod connection ended: {e}");
                        }
                    }
                    _ = stopped.changed() => {
                        conn.as_mut().graceful_shutdown();
                        let _ = conn.await;
                    }
                }
            });
        }
    });
    Live { _stop: stop, task }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(image: &str) -> PodEntry {
        PodEntry {
            cluster: "primary".into(),
            namespace: "default".into(),
            name: "web-1".into(),
            address: "127.0.0.1:1".parse().unwrap(),
            zone: "us-east-1b".into(),
            image: image.into(),
            pod_ip: None,
            owner: String::new(),
            listening: true,
        }
    }

    #[test]
    fn the_tutorial_image_welcomes_and_others_describe_themselves() {
        let a = Answer::new(&entry("public.ecr.aws/b5x3e7x1/eks-py-az"));
        assert_eq!(a.body, "Welcome to us-east-1b");
        let a = Answer::new(&entry("nginx:1.27"));
        assert_eq!(
            a.body,
            "web-1 (default) in primary us-east-1b: nginx:1.27\n"
        );
        assert_eq!(a.content_type, "text/plain; charset=utf-8");
        // A name no header may carry does not panic.
        let mut e = entry("x");
        e.name = "bad\nname".into();
        assert!(Answer::new(&e).pod.is_none());
    }

    #[test]
    fn odd_pods_are_skipped_or_read_without_panicking() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = crate::SandboxConfig::new(dir.path().to_path_buf());
        struct NoLbs;
        impl crate::provider::LoadBalancers for NoLbs {
            fn ensure_ingress_alb(
                &self,
                _: &crate::provider::AlbRequest,
            ) -> anyhow::Result<crate::provider::AlbInfo> {
                anyhow::bail!("none")
            }
            fn delete_ingress_alb(&self, _: &str, _: &str, _: &str) -> anyhow::Result<()> {
                Ok(())
            }
        }
        let c = Cluster::open(&cfg.clusters[0], &cfg, Arc::new(NoLbs)).unwrap();
        let none = HashMap::new();
        assert!(view(&c, &serde_json::json!({"metadata": 3}), &none).is_none());
        let odd = serde_json::json!({"metadata": {"uid": "u", "name": "p", "labels": "x"},
            "spec": {"containers": [{"image": 7, "ports": [{"containerPort": 70000}]}]},
            "status": {"phase": "Running", "conditions": "no"}});
        let v = view(&c, &odd, &none).unwrap();
        assert!(!v.ready);
        assert_eq!((v.image.as_str(), v.port, v.zone), ("", None, None));
    }

    /// A pod listener on an ephemeral loopback port, with `limits`.
    async fn pod(limits: PodLimits) -> (SocketAddr, Live) {
        let l = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = l.local_addr().unwrap();
        (addr, serve(l, Answer::new(&entry("nginx")), limits))
    }

    /// One GET on a new connection: the whole answer.
    async fn get(addr: SocketAddr) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
        c.write_all(b"GET / HTTP/1.1\r\nHost: p\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut got = Vec::new();
        c.read_to_end(&mut got).await.unwrap();
        String::from_utf8_lossy(&got).into_owned()
    }

    #[tokio::test]
    async fn clients_trickling_their_heads_are_closed_at_the_pods_header_timeout_while_others_are_served()
     {
        use crate::serving::slow_client;
        let (addr, _live) = pod(PodLimits {
            header_timeout: Duration::from_secs(1),
            ..PodLimits::default()
        })
        .await;
        let head = b"GET /slow HTTP/1.1\r\nHost: p\r\nX-Pad: 0123\r\n\r\n";
        let slow = slow_client::trickle_many(50, addr, head, Duration::from_millis(200));
        for _ in 0..15 {
            assert!(get(addr).await.starts_with("HTTP/1.1 200 OK\r\n"));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let closed = slow_client::assert_all_cut_at(slow, head.len(), Duration::from_secs(1)).await;
        // hyper answers a header timeout with a 408 or nothing; never the pod's 200.
        for t in closed {
            let got = String::from_utf8_lossy(&t.answer);
            assert!(!got.contains(" 200 "), "a slow client was answered: {got}");
        }
    }

    #[tokio::test]
    async fn past_its_connection_bound_a_pod_answers_503_instead_of_leaving_clients_waiting() {
        let (addr, _live) = pod(PodLimits {
            max_connections: 1,
            ..PodLimits::default()
        })
        .await;
        // One kept-alive connection holds the only slot.
        let held = tokio::net::TcpStream::connect(addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let got = get(addr).await;
        assert!(
            got.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "{got}"
        );
        drop(held);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(get(addr).await.starts_with("HTTP/1.1 200 OK\r\n"));
    }
}
