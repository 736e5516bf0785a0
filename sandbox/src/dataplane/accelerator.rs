//! Global Accelerator's data plane: each enabled accelerator's two static IPs (loopback
//! addresses of the sandbox's [`NetBlock`](super::NetBlock)) listen on its TCP
//! listeners' ports, and every new connection is routed by GA's rules (reference
//! notes §2) to an endpoint, then proxied both ways.
//!
//! A reconcile task follows the AWS state every 100 ms: it binds the real port on both
//! IPs (or, where that fails, an ephemeral port on the same IP, recorded as a mapping),
//! closes the listeners of disabled or deleted accelerators and removed listeners, and
//! writes the live map to `accelerators.json` for `runner sandbox status`. That file is
//! removed when the data plane stops, and carries the sandbox's pid so a map left by a
//! killed sandbox is not shown as listening; where each binding was bound is also kept
//! in `accelerator-ports.json`, which stays, so a mapped port comes back the same.
//!
//! Routing reads the state at each new connection, so health, dial and weight changes
//! apply to new connections only; established ones keep flowing. An ALB endpoint's
//! address is its `LoadBalancer.listen` (set by the ALB data plane); an endpoint with no
//! address counts as unhealthy. UDP listeners are not served.
//!
//! A connection routed to an ALB of this sandbox is handed to that ALB's proxy in
//! process (it sees the client's address, or the accelerator's without client IP
//! preservation, as on AWS); any other endpoint address gets a relayed TCP connection.
//! Relaying to our own ALB through a second loopback connection cost about a fifth of
//! the throughput in the unoptimised dev build.
//!
//! As on AWS, a relayed flow with no bytes either way for the TCP idle timeout (340 s)
//! is closed; a flow handed to an ALB follows the ALB's own timeouts. Each listener
//! port holds a bounded number of connections
//! ([`AcceleratorLimits`](super::limits::AcceleratorLimits)); past it a new
//! one is closed at once.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::Context;
use crate::aws::AwsState;
use crate::aws::ga::Listener;
use crate::persist;
use crate::serving::listen::{self, Gate};

/// The live map of listening addresses, in the sandbox's directory.
pub const ACCELERATORS_FILE: &str = "accelerators.json";
/// The last map, kept across restarts: the ports to bind again.
pub const PORT_MEMORY_FILE: &str = "accelerator-ports.json";
/// Ports bound per listener (a listener may declare ranges of thousands).
pub const MAX_PORTS_PER_LISTENER: usize = 16;
const TICK: Duration = Duration::from_millis(100);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// One static IP and listener port, and where it really listens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    pub accelerator_arn: String,
    pub accelerator_name: String,
    pub ip: String,
    pub port: u16,
    /// `ip:port` itself, or `ip:<ephemeral>` when the real port could not be bound.
    pub bound: String,
}

impl Binding {
    pub fn is_mapped(&self) -> bool {
        self.bound != format!("{}:{}", self.ip, self.port)
    }
}

/// What `accelerators.json` (and `accelerator-ports.json`) holds.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceleratorMap {
    pub bindings: Vec<Binding>,
    /// The process serving these bindings (`accelerators.json` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
}

impl AcceleratorMap {
    /// The live map of the data plane running in `dir`, if one is: None when it is
    /// stopped, even if a killed sandbox left its file behind.
    pub fn load(dir: &Path) -> Result<Option<Self>> {
        let map: Option<Self> = persist::load(&dir.join(ACCELERATORS_FILE))?;
        Ok(map.filter(|m| m.pid.is_some_and(process_alive)))
    }

    /// The bindings of the last run, live or not: what to bind again.
    fn remembered(dir: &Path) -> Self {
        let load = |file: &str| persist::load::<Self>(&dir.join(file)).ok().flatten();
        load(PORT_MEMORY_FILE)
            .or_else(|| load(ACCELERATORS_FILE))
            .unwrap_or_default()
    }

    /// Where `ip:port` of accelerator `arn` really listens.
    pub fn bound(&self, arn: &str, ip: &str, port: u16) -> Option<SocketAddr> {
        self.bindings
            .iter()
            .find(|b| b.accelerator_arn == arn && b.ip == ip && b.port == port)
            .and_then(|b| b.bound.parse().ok())
    }
}

/// Whether process `pid` exists (signal 0 checks without sending anything).
fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill with signal 0 only checks that the process exists and may be signalled.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Removes `accelerators.json` when the reconcile task ends, however it ends (the
/// sandbox's shutdown aborts the data plane's tasks).
struct Unpublish(std::path::PathBuf);

impl Drop for Unpublish {
    fn drop(&mut self) {
        match std::fs::remove_file(&self.0) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(error = %e, "removing {} failed", self.0.display()),
        }
    }
}

/// `runner sandbox status` lines: each accelerator's listening addresses, mapped ports
/// shown as `ip:port -> ip:mapped`; none when the sandbox is stopped.
pub fn status_lines(dir: &Path) -> Vec<String> {
    let Ok(Some(map)) = AcceleratorMap::load(dir) else {
        return Vec::new();
    };
    let mut by_acc: BTreeMap<(&str, &str), Vec<String>> = BTreeMap::new();
    for b in &map.bindings {
        let shown = if b.is_mapped() {
            format!("{}:{} -> {}", b.ip, b.port, b.bound)
        } else {
            b.bound.clone()
        };
        by_acc
            .entry((&b.accelerator_name, &b.accelerator_arn))
            .or_default()
            .push(shown);
    }
    by_acc
        .into_iter()
        .map(|((name, arn), addrs)| {
            format!(
                "accelerator {name} ({arn}): listening on {}",
                addrs.join(", ")
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------
// Routing (pure).

/// A small xorshift64* generator: routing draws, seedable for tests.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        // Spread the seed (splitmix64) so small seeds are fine; never zero.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }

    /// Seeded from the OS.
    pub fn from_entropy() -> Self {
        let mut b = [0u8; 8];
        if getrandom::fill(&mut b).is_err() {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            b = t.to_le_bytes();
        }
        Rng::new(u64::from_le_bytes(b))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One endpoint as routing sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointView {
    pub weight: u32,
    /// HEALTHY (or unset after its INITIAL period) and with an address.
    pub healthy: bool,
}

/// One endpoint group as routing sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupView {
    pub region: String,
    /// Traffic dial, 0–100.
    pub dial: f64,
    pub endpoints: Vec<EndpointView>,
}

/// Which rule chose the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// A group accepted it by its traffic dial.
    Dial,
    /// Every dial turned it away: one of the 3 nearest healthy groups, dials ignored.
    Failover,
    /// No healthy endpoint anywhere near: a random endpoint of the nearest group.
    FailOpen,
}

/// The chosen endpoint: indexes into the groups given to [`route`] and their endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pick {
    pub group: usize,
    pub endpoint: usize,
    pub how: How,
}

/// How far `region` is from `home`: 0 the same region, 1 the same geography (`us-`,
/// `eu-`...), 2 elsewhere.
pub fn distance(home: &str, region: &str) -> u8 {
    let geo = |r: &str| r.split('-').next().unwrap_or(r).to_string();
    if home == region {
        0
    } else if geo(home) == geo(region) {
        1
    } else {
        2
    }
}

/// Group indexes, nearest to `home` first (ties by region name, then position).
pub fn nearest_order(groups: &[GroupView], home: &str) -> Vec<usize> {
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by(|&a, &b| {
        let key = |i: usize| (distance(home, &groups[i].region), &groups[i].region, i);
        key(a).cmp(&key(b))
    });
    order
}

fn serves(e: &EndpointView) -> bool {
    e.healthy && e.weight > 0
}

/// An endpoint among those `ok` accepts, by weight; None if their weights sum to 0.
fn by_weight(
    endpoints: &[EndpointView],
    rng: &mut Rng,
    ok: impl Fn(&EndpointView) -> bool,
) -> Option<usize> {
    let total: u64 = endpoints
        .iter()
        .filter(|e| ok(e))
        .map(|e| u64::from(e.weight))
        .sum();
    if total == 0 {
        return None;
    }
    let mut x = rng.below(total);
    for (i, e) in endpoints.iter().enumerate().filter(|(_, e)| ok(e)) {
        let w = u64::from(e.weight);
        if x < w {
            return Some(i);
        }
        x -= w;
    }
    None
}

/// Chooses the endpoint for one new connection from a client whose nearest region is
/// `home`, by Global Accelerator's rules:
///
/// 1. Walk the groups nearest first; a group with a healthy weight>0 endpoint takes the
///    connection with probability dial/100, choosing among those endpoints by weight.
/// 2. If every dial turned it away, fail over ignoring dials: the first of the 3
///    nearest groups with a healthy weight>0 endpoint — skipping the nearest such group
///    when another qualifies, since the share its dial turned away goes to other
///    Regions (dev guide: with dial 50 "the remainder go to other Regions"; this makes
///    dials 50/50 split evenly).
/// 3. If none qualifies, fail open: a random endpoint (by weight, any health) of the
///    nearest group that has endpoints.
/// 4. No endpoint at all: None (the connection is closed).
///
/// Failback needs no rule of its own: once health returns, rule 1 applies again.
pub fn route(groups: &[GroupView], home: &str, rng: &mut Rng) -> Option<Pick> {
    let order = nearest_order(groups, home);
    for &g in &order {
        let group = &groups[g];
        if !group.endpoints.iter().any(serves) {
            continue;
        }
        if rng.unit() < group.dial.clamp(0.0, 100.0) / 100.0 {
            let endpoint = by_weight(&group.endpoints, rng, serves)?;
            return Some(Pick {
                group: g,
                endpoint,
                how: How::Dial,
            });
        }
    }
    let healthy: Vec<usize> = order
        .iter()
        .copied()
        .take(3)
        .filter(|&g| groups[g].endpoints.iter().any(serves))
        .collect();
    let failover = match healthy.as_slice() {
        [] => None,
        [only] => Some(*only),
        [_, next, ..] => Some(*next),
    };
    if let Some(g) = failover {
        let endpoint = by_weight(&groups[g].endpoints, rng, serves)?;
        return Some(Pick {
            group: g,
            endpoint,
            how: How::Failover,
        });
    }
    let g = order
        .into_iter()
        .find(|&g| !groups[g].endpoints.is_empty())?;
    let endpoints = &groups[g].endpoints;
    let endpoint = by_weight(endpoints, rng, |e| e.weight > 0)
        .unwrap_or_else(|| rng.below(endpoints.len() as u64) as usize);
    Some(Pick {
        group: g,
        endpoint,
        how: How::FailOpen,
    })
}

// ---------------------------------------------------------------------------------
// The listeners.

/// The ports a listener is served on: its ranges' ports, at most 16.
pub fn listener_ports(l: &Listener) -> Vec<u16> {
    let mut ports = Vec::new();
    for r in &l.port_ranges {
        for p in r.from.max(1)..=r.to.min(65535) {
            if ports.len() >= MAX_PORTS_PER_LISTENER {
                return ports;
            }
            if let Ok(p) = u16::try_from(p)
                && !ports.contains(&p)
            {
                ports.push(p);
            }
        }
    }
    ports
}

/// Where the endpoint `id` accepts traffic: an ALB's (or NLB's) `listen` address.
fn endpoint_address(state: &AwsState, id: &str) -> Option<SocketAddr> {
    state
        .elbv2
        .load_balancers
        .iter()
        .find(|lb| lb.arn == id)?
        .listen
        .as_deref()?
        .parse()
        .ok()
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The address a new connection to `port` of accelerator `arn` goes to, from `client`.
pub fn target(
    state: &AwsState,
    arn: &str,
    port: u16,
    home: &str,
    delay_ms: u64,
    client: IpAddr,
) -> Option<SocketAddr> {
    route_connection(state, arn, port, home, delay_ms, client).map(|r| r.to)
}

/// Where a new connection goes, and whether its endpoint sees the client's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Routed {
    pub to: SocketAddr,
    /// The endpoint's client IP preservation: off, the endpoint sees the accelerator's.
    pub preserve_client_ip: bool,
}

/// [`target`], with the chosen endpoint's client IP preservation.
pub fn route_connection(
    state: &AwsState,
    arn: &str,
    port: u16,
    home: &str,
    delay_ms: u64,
    client: IpAddr,
) -> Option<Routed> {
    let acc = state
        .ga
        .accelerators
        .iter()
        .find(|a| a.arn == arn && a.enabled)?;
    let listener = acc
        .listeners
        .iter()
        .find(|l| l.protocol == "TCP" && listener_ports(l).contains(&port))?;
    let now = now_ms();
    let mut addrs = Vec::new();
    let groups: Vec<GroupView> = listener
        .endpoint_groups
        .iter()
        .map(|g| {
            let mut here = Vec::new();
            let endpoints = g
                .endpoints
                .iter()
                .map(|e| {
                    let addr = endpoint_address(state, &e.id);
                    here.push(addr.map(|to| Routed {
                        to,
                        preserve_client_ip: e.client_ip_preservation,
                    }));
                    EndpointView {
                        weight: e.weight.clamp(0, 255) as u32,
                        healthy: addr.is_some() && e.health_state(now, delay_ms) == "HEALTHY",
                    }
                })
                .collect();
            addrs.push(here);
            GroupView {
                region: g.region.clone(),
                dial: g.traffic_dial,
                endpoints,
            }
        })
        .collect();
    let mut rng = if listener.client_affinity == "SOURCE_IP" {
        // The same client keeps landing on the same endpoint while nothing changes.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in client.to_string().bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
        Rng::new(h)
    } else {
        Rng::from_entropy()
    };
    let pick = route(&groups, home, &mut rng)?;
    tracing::debug!(accelerator = %acc.name, port, how = ?pick.how, region = %groups[pick.group].region, "accelerator connection routed");
    addrs[pick.group][pick.endpoint]
}

/// Aborts the task when dropped (the listener closes with it).
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

type Key = (String, String, u16);

struct Live {
    name: String,
    bound: SocketAddr,
    _task: AbortOnDrop,
}

async fn stopped(mut stop: watch::Receiver<bool>) {
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Starts the reconcile task; it (and every listener) ends when `ctx.stop` turns true.
pub async fn start(ctx: Context) -> Result<Vec<JoinHandle<()>>> {
    Ok(vec![tokio::spawn(reconcile(ctx))])
}

/// The ports each enabled accelerator should listen on: (arn, ip, port) → name.
fn desired(state: &AwsState) -> BTreeMap<Key, String> {
    let mut want = BTreeMap::new();
    for acc in state.ga.accelerators.iter().filter(|a| a.enabled) {
        for l in acc.listeners.iter().filter(|l| l.protocol == "TCP") {
            for port in listener_ports(l) {
                for ip in &acc.ips {
                    want.insert((acc.arn.clone(), ip.clone(), port), acc.name.clone());
                }
            }
        }
    }
    want
}

/// Binds `ip:port`, else the port this binding was mapped to last time, else an
/// ephemeral port on `ip`.
fn bind(ip: IpAddr, port: u16, previous: Option<SocketAddr>) -> std::io::Result<TcpListener> {
    match listen::bind(SocketAddr::new(ip, port)) {
        Ok(l) => Ok(l),
        Err(e) => {
            tracing::debug!(%ip, port, error = %e, "accelerator port not bindable, mapping it");
            if let Some(prev) = previous.filter(|p| p.ip() == ip && p.port() != port)
                && let Ok(l) = listen::bind(prev)
            {
                return Ok(l);
            }
            listen::bind(SocketAddr::new(ip, 0))
        }
    }
}

async fn reconcile(ctx: Context) {
    let path = ctx.dir.join(ACCELERATORS_FILE);
    let memory = ctx.dir.join(PORT_MEMORY_FILE);
    let previous = AcceleratorMap::remembered(&ctx.dir);
    let _unpublish = Unpublish(path.clone());
    let mut live: BTreeMap<Key, Live> = BTreeMap::new();
    let mut failed: BTreeSet<Key> = BTreeSet::new();
    let mut written: Option<AcceleratorMap> = None;
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stop = stopped(ctx.stop.clone());
    tokio::pin!(stop);
    // The tick's snapshot, shared with the listeners: a new connection routes on state at
    // most one tick old instead of cloning the whole AWS state per connection.
    let (publish, current) = watch::channel(std::sync::Arc::new(ctx.aws.snapshot()));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = &mut stop => break,
        }
        let state = std::sync::Arc::new(ctx.aws.snapshot());
        publish.send_replace(state.clone());
        let want = desired(&state);
        live.retain(|k, _| want.contains_key(k));
        failed.retain(|k| want.contains_key(k));
        for (key, name) in want {
            if live.contains_key(&key) {
                continue;
            }
            let (arn, ip, port) = &key;
            let Ok(addr) = ip.parse::<IpAddr>() else {
                if failed.insert(key.clone()) {
                    tracing::warn!(accelerator = %name, %ip, "static IP is not an address; not served");
                }
                continue;
            };
            match bind(addr, *port, previous.bound(arn, ip, *port)) {
                Ok(listener) => {
                    let Ok(bound) = listener.local_addr() else {
                        continue;
                    };
                    failed.remove(&key);
                    let task = tokio::spawn(accept(
                        ctx.clone(),
                        current.clone(),
                        listener,
                        arn.clone(),
                        *port,
                    ));
                    tracing::info!(accelerator = %name, %ip, port, %bound, "accelerator listening");
                    live.insert(
                        key,
                        Live {
                            name,
                            bound,
                            _task: AbortOnDrop(task),
                        },
                    );
                }
                Err(e) => {
                    if failed.insert(key.clone()) {
                        tracing::warn!(accelerator = %name, %ip, port, error = %e, "cannot listen on the accelerator's static IP");
                    }
                }
            }
        }
        let map = AcceleratorMap {
            bindings: live
                .iter()
                .map(|((arn, ip, port), l)| Binding {
                    accelerator_arn: arn.clone(),
                    accelerator_name: l.name.clone(),
                    ip: ip.clone(),
                    port: *port,
                    bound: l.bound.to_string(),
                })
                .collect(),
            pid: Some(std::process::id()),
        };
        if written.as_ref() != Some(&map) {
            let remembered = AcceleratorMap {
                bindings: map.bindings.clone(),
                pid: None,
            };
            let saved = persist::save(&memory, &remembered)
                .with_context(|| format!("writing {PORT_MEMORY_FILE}"))
                .and_then(|()| {
                    persist::save(&path, &map)
                        .with_context(|| format!("writing {ACCELERATORS_FILE}"))
                });
            match saved {
                Ok(()) => written = Some(map),
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "publishing the accelerator listeners failed")
                }
            }
        }
    }
}

async fn accept(
    ctx: Context,
    state: watch::Receiver<std::sync::Arc<AwsState>>,
    listener: TcpListener,
    arn: String,
    port: u16,
) {
    let stop = stopped(ctx.stop.clone());
    tokio::pin!(stop);
    let limits = ctx.limits.accelerator.clone();
    let gate = Gate::new(limits.max_connections);
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = &mut stop => return,
        };
        let (inbound, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                tracing::debug!(error = %e, "accelerator accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let Some(slot) = gate.enter() else {
            tracing::debug!(%peer, port, "accelerator listener at its connection bound: closed");
            continue;
        };
        let snapshot = state.borrow().clone();
        let delay = ctx.aws.settings().transition_delay_ms;
        let routed = route_connection(&snapshot, &arn, port, &ctx.home_region, delay, peer.ip());
        drop(snapshot);
        let Some(routed) = routed else {
            // No endpoint at all: the connection is closed.
            continue;
        };
        match super::alb_proxy::listening(routed.to) {
            // An ALB of this sandbox: it serves the connection itself, seeing the client's
            // address or, without client IP preservation, the accelerator's.
            Some(alb) => {
                let seen = if routed.preserve_client_ip {
                    peer.ip()
                } else {
                    inbound.local_addr().map(|a| a.ip()).unwrap_or(peer.ip())
                };
                let _ = inbound.set_nodelay(true);
                tokio::spawn(async move {
                    let _slot = slot;
                    super::alb_proxy::handle(alb, inbound, seen).await
                });
            }
            None => {
                let idle = limits.idle_timeout;
                tokio::spawn(async move {
                    let _slot = slot;
                    proxy(inbound, routed.to, idle).await
                });
            }
        }
    }
}

/// Proxies one connection both ways to an endpoint outside this process's ALBs, until
/// either side closes or nothing moves either way for `idle`.
async fn proxy(inbound: TcpStream, to: SocketAddr, idle: Duration) {
    let outbound = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(to)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::debug!(%to, error = %e, "accelerator endpoint refused");
            return;
        }
        Err(_) => return,
    };
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let activity = Activity::new();
    let mut inbound = activity.watch(inbound);
    let mut outbound = activity.watch(outbound);
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
        () = activity.idle_for(idle) => {
            tracing::debug!(%to, ?idle, "accelerator flow idle: closed");
        }
    }
}

/// When a relayed flow last moved a byte either way: one shared clock for both
/// directions, read by a single timer instead of one timer per read.
#[derive(Clone)]
struct Activity {
    since: Instant,
    /// Milliseconds from `since` to the last byte read.
    last_ms: Arc<AtomicU64>,
}

impl Activity {
    fn new() -> Self {
        Activity {
            since: Instant::now(),
            last_ms: Arc::new(AtomicU64::new(0)),
        }
    }

    fn watch(&self, stream: TcpStream) -> Watched {
        Watched {
            stream,
            activity: self.clone(),
        }
    }

    fn last(&self) -> Instant {
        self.since + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }

    /// Resolves once nothing has been read for `idle`.
    async fn idle_for(&self, idle: Duration) {
        loop {
            let due = self.last() + idle;
            if Instant::now() >= due {
                return;
            }
            tokio::time::sleep_until(due.into()).await;
        }
    }
}

/// A stream whose reads mark its flow active.
struct Watched {
    stream: TcpStream,
    activity: Activity,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            let ms = self.activity.since.elapsed().as_millis() as u64;
            self.activity.last_ms.store(ms, Ordering::Relaxed);
        }
        polled
    }
}

impl tokio::io::AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(region: &str, dial: f64, eps: &[(u32, bool)]) -> GroupView {
        GroupView {
            region: region.into(),
            dial,
            endpoints: eps
                .iter()
                .map(|&(weight, healthy)| EndpointView { weight, healthy })
                .collect(),
        }
    }

    /// How many of `n` draws land on each group.
    fn shares(groups: &[GroupView], home: &str, n: usize, seed: u64) -> Vec<usize> {
        let mut rng = Rng::new(seed);
        let mut counts = vec![0; groups.len()];
        for _ in 0..n {
            counts[route(groups, home, &mut rng).unwrap().group] += 1;
        }
        counts
    }

    #[test]
    fn dials_100_and_0_send_everything_to_the_primary() {
        let groups = [
            group("us-east-1", 100.0, &[(128, true)]),
            group("us-east-2", 0.0, &[(128, true)]),
        ];
        assert_eq!(shares(&groups, "us-east-1", 1000, 1), vec![1000, 0]);
        let mut rng = Rng::new(2);
        assert_eq!(
            route(&groups, "us-east-1", &mut rng).unwrap().how,
            How::Dial
        );
    }

    #[test]
    fn an_unhealthy_primary_fails_over_despite_dial_0() {
        let groups = [
            group("us-east-1", 100.0, &[(128, false)]),
            group("us-east-2", 0.0, &[(128, true)]),
        ];
        assert_eq!(shares(&groups, "us-east-1", 1000, 3), vec![0, 1000]);
        let pick = route(&groups, "us-east-1", &mut Rng::new(4)).unwrap();
        assert_eq!((pick.group, pick.how), (1, How::Failover));
        // Weight 0 does not count as serving.
        let groups = [
            group("us-east-1", 100.0, &[(0, true)]),
            group("us-east-2", 0.0, &[(128, true)]),
        ];
        assert_eq!(shares(&groups, "us-east-1", 100, 5), vec![0, 100]);
    }

    #[test]
    fn with_nothing_healthy_it_fails_open_to_the_nearest() {
        let groups = [
            group("eu-west-1", 100.0, &[(128, false)]),
            group("us-east-2", 100.0, &[(128, false)]),
            group("us-east-1", 0.0, &[(128, false), (128, false)]),
        ];
        let mut rng = Rng::new(6);
        for _ in 0..100 {
            let pick = route(&groups, "us-east-1", &mut rng).unwrap();
            assert_eq!((pick.group, pick.how), (2, How::FailOpen));
        }
        assert_eq!(route(&[], "us-east-1", &mut rng), None);
        assert_eq!(
            route(&[group("us-east-1", 100.0, &[])], "us-east-1", &mut rng),
            None
        );
    }

    #[test]
    fn dials_50_50_split_evenly() {
        let groups = [
            group("us-east-1", 50.0, &[(128, true)]),
            group("us-east-2", 50.0, &[(128, true)]),
        ];
        let c = shares(&groups, "us-east-1", 10_000, 42);
        assert!((4700..=5300).contains(&c[0]), "{c:?}");
        // A lone group with dial 50 still takes everything (nowhere else to go).
        let lone = [group("us-east-1", 50.0, &[(128, true)])];
        assert_eq!(shares(&lone, "us-east-1", 100, 7), vec![100]);
    }

    #[test]
    fn weights_3_to_1_split_3_to_1() {
        let groups = [group("us-east-1", 100.0, &[(192, true), (64, true)])];
        let mut rng = Rng::new(9);
        let mut c = [0usize; 2];
        for _ in 0..10_000 {
            c[route(&groups, "us-east-1", &mut rng).unwrap().endpoint] += 1;
        }
        assert!((7200..=7800).contains(&c[0]), "{c:?}");
    }

    #[test]
    fn the_home_region_decides_which_group_is_primary() {
        let groups = [
            group("us-east-1", 100.0, &[(128, true)]),
            group("us-east-2", 100.0, &[(128, true)]),
            group("eu-west-1", 100.0, &[(128, true)]),
        ];
        assert_eq!(shares(&groups, "us-east-1", 100, 10), vec![100, 0, 0]);
        assert_eq!(shares(&groups, "us-east-2", 100, 11), vec![0, 100, 0]);
        assert_eq!(shares(&groups, "eu-west-1", 100, 12), vec![0, 0, 100]);
        // Same geography before the rest; ties by name.
        assert_eq!(shares(&groups, "us-west-2", 100, 13), vec![100, 0, 0]);
        assert_eq!(shares(&groups, "eu-central-1", 100, 14), vec![0, 0, 100]);
        assert_eq!(nearest_order(&groups, "eu-central-1"), vec![2, 0, 1]);
    }

    #[test]
    fn failover_only_looks_at_the_three_nearest() {
        let groups = [
            group("us-east-1", 100.0, &[(128, false)]),
            group("us-east-2", 100.0, &[(128, false)]),
            group("us-west-1", 100.0, &[(128, false)]),
            group("us-west-2", 0.0, &[(128, true)]),
        ];
        // The 4th group still takes connections by its dial... but its dial is 0, and
        // failover does not reach it: fail open to the nearest.
        let pick = route(&groups, "us-east-1", &mut Rng::new(15)).unwrap();
        assert_eq!((pick.group, pick.how), (0, How::FailOpen));
    }

    #[tokio::test]
    async fn a_busy_port_is_mapped_and_the_mapping_kept() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let busy = TcpListener::bind((ip, 0)).await.unwrap();
        let port = busy.local_addr().unwrap().port();
        let mapped = bind(ip, port, None).unwrap().local_addr().unwrap();
        assert_eq!(mapped.ip(), ip);
        assert_ne!(mapped.port(), port);
        // Next time the same mapped port is tried first.
        let again = bind(ip, port, Some(mapped)).unwrap();
        assert_eq!(again.local_addr().unwrap(), mapped);
    }

    #[test]
    fn listener_ports_are_capped() {
        let l = Listener {
            arn: "l".into(),
            port_ranges: vec![
                crate::aws::ga::PortRange { from: 80, to: 80 },
                crate::aws::ga::PortRange {
                    from: 8000,
                    to: 9000,
                },
            ],
            protocol: "TCP".into(),
            client_affinity: "NONE".into(),
            idempotency_token: None,
            endpoint_groups: vec![],
        };
        let ports = listener_ports(&l);
        assert_eq!(ports.len(), MAX_PORTS_PER_LISTENER);
        assert_eq!(&ports[..3], &[80, 8000, 8001]);
    }

    #[tokio::test]
    async fn relayed_flows_idle_for_the_idle_timeout_are_closed_and_busy_ones_are_not() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        // An echo endpoint, and a front relaying to it as the accelerator does.
        let endpoint = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let to = endpoint.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = endpoint.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        let front = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = front.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((s, _)) = front.accept().await {
                tokio::spawn(proxy(s, to, Duration::from_secs(1)));
            }
        });
        // Closed after the idle timeout: silent, or a byte every 1.5 s (slower than it).
        let silent = tokio::spawn(async move {
            let mut c = TcpStream::connect(addr).await.unwrap();
            let started = Instant::now();
            assert_eq!(c.read(&mut [0u8; 8]).await.unwrap(), 0);
            started.elapsed()
        });
        let trickle = tokio::spawn(async move {
            let mut c = TcpStream::connect(addr).await.unwrap();
            let started = Instant::now();
            let mut echoed = 0;
            loop {
                if c.write_all(b"x").await.is_err() {
                    break;
                }
                let mut b = [0u8; 1];
                match c.read(&mut b).await {
                    Ok(1) => echoed += 1,
                    _ => break,
                }
                tokio::time::sleep(Duration::from_millis(1500)).await;
            }
            (started.elapsed(), echoed)
        });
        // Open for 3 s, three times the timeout, while it keeps sending.
        let mut busy = TcpStream::connect(addr).await.unwrap();
        for _ in 0..10 {
            busy.write_all(b"ping").await.unwrap();
            let mut b = [0u8; 4];
            busy.read_exact(&mut b).await.unwrap();
            assert_eq!(&b, b"ping");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let silent = silent.await.unwrap();
        assert!(
            silent >= Duration::from_millis(900) && silent < Duration::from_secs(3),
            "{silent:?}"
        );
        let (trickled, echoed) = trickle.await.unwrap();
        assert_eq!(echoed, 1, "only the first byte went through");
        assert!(trickled < Duration::from_secs(3), "{trickled:?}");
    }
}
