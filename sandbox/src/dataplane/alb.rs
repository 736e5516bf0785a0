//! ALBs answering HTTP on loopback: every load balancer in the state gets an address of
//! the sandbox's ALB range (`NetBlock::alb_ip`) and its listener port, kept in
//! `LoadBalancer::listen` (so it survives `down`/`up`), and proxies each request to one
//! of its target group's targets, round robin over the healthy ones; with none healthy
//! it fails open to every registered (not draining) target, as an ALB does; with no
//! target at all, or when the forward fails, it answers ELB's own `502 Bad Gateway`.
//! Every answer carries `x-sandbox-alb: <name>`.
//!
//! Target health is checked as a target group checks it: `GET <path>` on the target
//! (the pod's loopback address, found through [`super::pods::registry`]) every interval
//! with the timeout; `healthy_threshold` consecutive successes (status in the matcher)
//! make it `healthy`, `unhealthy_threshold` consecutive failures `unhealthy`. The
//! verdict is written to `Target::health` (what DescribeTargetHealth reports) and, for
//! every Global Accelerator endpoint that is an ALB, to `Endpoint::health`: HEALTHY when
//! each target group of the ALB has at least one healthy target, else UNHEALTHY.
//!
//! A new target's first check waits (at most one interval) until its pod has an address,
//! as ELB does not check a target whose registration is in progress: otherwise a check
//! racing the pod part's tick records a failure the pod never had, and a later
//! scale-down turns the target unhealthy after one real failure instead of
//! `unhealthy_threshold`. A draining target (gone from the Service's endpoints) gets no
//! new requests, keeps being checked, and is deregistered [`DEREGISTRATION_DELAY`] after
//! its drain began.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::Context;
pub use super::alb_proxy::BAD_GATEWAY_BODY;
use super::alb_proxy::{self, Route, RouteSlot};
use super::pods::{self, PodAddresses};
use crate::aws::AwsState;
use crate::serving::listen;

const TICK: Duration = Duration::from_millis(100);
/// The tag the controller stand-in puts on the target groups it makes.
const CONTROLLER_TAG: &str = "ingress.k8s.aws/resource";

/// Targets draining this long (from the start of the drain) are deregistered whatever
/// their health (ELB's default deregistration delay).
const DEREGISTRATION_DELAY: Duration = Duration::from_secs(300);
/// The health state machine of one target (what a target group keeps per target).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetHealth {
    /// `initial`, `healthy` or `unhealthy`.
    pub state: String,
    successes: i64,
    failures: i64,
}

impl TargetHealth {
    /// Starts from a state read from the AWS state (`None`: a new target, `initial`).
    pub fn new(state: Option<&str>) -> Self {
        TargetHealth {
            state: match state {
                Some(s @ ("healthy" | "unhealthy")) => s.to_string(),
                _ => "initial".into(),
            },
            successes: 0,
            failures: 0,
        }
    }

    /// Records one check; true when the state changed.
    pub fn observe(&mut self, ok: bool, healthy_threshold: i64, unhealthy_threshold: i64) -> bool {
        let before = self.state.clone();
        if ok {
            self.failures = 0;
            self.successes += 1;
            if self.successes >= healthy_threshold.max(1) {
                self.state = "healthy".into();
            }
        } else {
            self.successes = 0;
            self.failures += 1;
            if self.failures >= unhealthy_threshold.max(1) {
                self.state = "unhealthy".into();
            }
        }
        self.state != before
    }
}

/// Does `status` match a target group matcher (`200`, `200,202`, `200-399`)?
pub fn matches_codes(matcher: &str, status: u16) -> bool {
    matcher
        .split(',')
        .map(str::trim)
        .any(|part| match part.split_once('-') {
            Some((a, b)) => match (a.trim().parse::<u16>(), b.trim().parse::<u16>()) {
                (Ok(a), Ok(b)) => (a..=b).contains(&status),
                _ => false,
            },
            None => part.parse::<u16>() == Ok(status),
        })
}

struct Served {
    listen: String,
    task: JoinHandle<()>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One target's checks: (target group ARN, target id, port).
type TargetKey = (String, String, Option<i64>);

/// The health-check bookkeeping of one target, driven with an explicit `now` so the
/// timing rules can be tested without waiting for real intervals.
#[derive(Debug)]
struct Check {
    health: TargetHealth,
    /// When the bookkeeping began (the target was registered, or the data plane started).
    since: Instant,
    /// When the next check may start: one interval after the last one started.
    next: Instant,
    in_flight: bool,
    /// Which check is in flight: a result counts only for the check that sent it, so a
    /// stale answer can never add a second failure inside one interval.
    seq: u64,
    /// When this data plane first saw the target draining (the deregistration delay
    /// runs from there, not from the registration).
    draining_since: Option<Instant>,
}

impl Check {
    fn new(state: Option<&str>, now: Instant) -> Self {
        Check {
            health: TargetHealth::new(state),
            since: now,
            next: now,
            in_flight: false,
            seq: 0,
            draining_since: None,
        }
    }

    /// Whether a check should start at `now`; `answering` is whether the target has a
    /// pod address to check. The first check of a target waits until its pod has an
    /// address, for at most one interval: the pod part opens a ready pod's listener on
    /// its own tick, which can come after the controller stand-in registered the target,
    /// and a check in between would record a failure the pod never had. That phantom
    /// failure stayed in the count and made a later scale-down unhealthy after a single
    /// real failure, less than interval x threshold (ELB itself does not check a target
    /// while its registration is in progress).
    fn due(&self, now: Instant, answering: bool, interval: Duration) -> bool {
        !self.in_flight
            && now >= self.next
            && (answering || self.seq > 0 || now >= self.since + interval)
    }

    /// Marks a check started at `now`; its `seq`.
    fn start(&mut self, now: Instant, interval: Duration) -> u64 {
        self.in_flight = true;
        self.seq += 1;
        // At most one check per interval, however soon its result arrives.
        self.next = now + interval;
        self.seq
    }

    /// Records the result of check `seq`; true when the health state changed. Results of
    /// any other check than the one in flight are ignored.
    fn finish(&mut self, seq: u64, ok: bool, healthy: i64, unhealthy: i64) -> bool {
        if !self.in_flight || self.seq != seq {
            return false;
        }
        self.in_flight = false;
        self.health.observe(ok, healthy, unhealthy)
    }

    /// Follows the target's draining flag (a target can come back, e.g. a new pod with
    /// the same IP).
    fn follow_drain(&mut self, draining: bool, now: Instant) {
        match (draining, self.draining_since) {
            (true, None) => self.draining_since = Some(now),
            (false, Some(_)) => self.draining_since = None,
            _ => {}
        }
    }

    /// Whether the deregistration delay has passed since the drain began. (The drain
    /// start is kept in memory: after a restart the delay starts again, so a target is
    /// deregistered later, never earlier.)
    fn drain_expired(&self, now: Instant, delay: Duration) -> bool {
        self.draining_since.is_some_and(|d| now >= d + delay)
    }
}

/// One finished check: its target, the check's `seq`, the verdict.
type CheckResult = (TargetKey, u64, bool);

/// Starts the reconcile task; it ends when `ctx.stop` turns true, closing every listener.
pub async fn start(ctx: Context) -> anyhow::Result<Vec<JoinHandle<()>>> {
    let registry = pods::registry(&ctx.dir);
    Ok(vec![tokio::spawn(async move {
        let mut routes: HashMap<String, RouteSlot> = HashMap::new();
        let mut served: HashMap<String, Served> = HashMap::new();
        let mut checks: HashMap<TargetKey, Check> = HashMap::new();
        let (tx, mut rx) = mpsc::unbounded_channel::<CheckResult>();
        let mut warned: HashMap<String, String> = HashMap::new();
        let mut stop = ctx.stop.clone();
        loop {
            if *stop.borrow() {
                break;
            }
            let mut results = Vec::new();
            while let Ok(r) = rx.try_recv() {
                results.push(r);
            }
            pass(
                &ctx,
                &registry,
                &mut routes,
                &mut served,
                &mut checks,
                &tx,
                results,
                &mut warned,
            )
            .await;
            tokio::select! {
                _ = tokio::time::sleep(TICK) => {}
                changed = stop.changed() => if changed.is_err() { break },
            }
        }
        served.clear();
    })])
}

#[allow(clippy::too_many_arguments)]
async fn pass(
    ctx: &Context,
    registry: &Arc<PodAddresses>,
    routes: &mut HashMap<String, RouteSlot>,
    served: &mut HashMap<String, Served>,
    checks: &mut HashMap<TargetKey, Check>,
    tx: &mpsc::UnboundedSender<CheckResult>,
    results: Vec<CheckResult>,
    warned: &mut HashMap<String, String>,
) {
    let snap = ctx.aws.snapshot();
    let now = Instant::now();

    // 1. Addresses for load balancers that have none.
    let mut used: Vec<String> = snap
        .elbv2
        .load_balancers
        .iter()
        .filter_map(|lb| lb.listen.clone())
        .collect();
    let mut assign: Vec<(String, String)> = Vec::new();
    for lb in &snap.elbv2.load_balancers {
        if lb.listen.is_some() {
            continue;
        }
        let port = lb.listeners.first().map(|l| l.port).unwrap_or(80);
        let free = (0..100).filter_map(|i| ctx.net.alb_ip(i)).find(|ip| {
            !used
                .iter()
                .any(|u| u.rsplit_once(':').map(|(h, _)| h) == Some(&ip.to_string()))
        });
        match free {
            Some(ip) => {
                let listen = format!("{ip}:{port}");
                used.push(listen.clone());
                assign.push((lb.arn.clone(), listen));
            }
            None => tracing::warn!("no free ALB address for {}", lb.name),
        }
    }

    // 2. Health results.
    let mut health_writes: Vec<(TargetKey, String)> = Vec::new();
    let groups: HashMap<&str, &crate::aws::elbv2::TargetGroup> = snap
        .elbv2
        .target_groups
        .iter()
        .map(|t| (t.arn.as_str(), t))
        .collect();
    for (key, seq, ok) in results {
        let (Some(c), Some(tg)) = (checks.get_mut(&key), groups.get(key.0.as_str())) else {
            continue;
        };
        if c.finish(seq, ok, tg.healthy_threshold, tg.unhealthy_threshold) {
            tracing::debug!(target_group = %tg.name, target = %key.1, state = %c.health.state, "target health changed");
            health_writes.push((key.clone(), c.health.state.clone()));
        }
    }

    // 3. Start due checks; forget targets that are gone.
    // Every registered target keeps its check (and its counters and schedule) while it
    // stays in its group, draining or without a pod address included; only targets gone
    // from the state are forgotten.
    let live_keys: std::collections::HashSet<TargetKey> = snap
        .elbv2
        .target_groups
        .iter()
        .flat_map(|tg| {
            tg.targets
                .iter()
                .map(|t| (tg.arn.clone(), t.id.clone(), t.port))
        })
        .collect();
    let mut new_routes: HashMap<String, Arc<Route>> = HashMap::new();
    for lb in &snap.elbv2.load_balancers {
        // Only the controller's target groups have pods behind them on loopback. A
        // group a client made itself (targets that are just addresses) keeps the control
        // plane's emulated target health instead of failing checks against nothing.
        let Some(owner) = &lb.owner else {
            continue;
        };
        let cluster = owner.cluster.as_str();
        let mut route = Route::default();
        for tg in snap.elbv2.target_groups.iter().filter(|t| {
            t.load_balancer_arns.contains(&lb.arn) && t.tags.contains_key(CONTROLLER_TAG)
        }) {
            for t in &tg.targets {
                let key: TargetKey = (tg.arn.clone(), t.id.clone(), t.port);
                let addr = registry.address_of_pod_ip(cluster, &t.id);
                let c = checks.entry(key.clone()).or_insert_with(|| {
                    let c = Check::new(t.health.as_deref(), now);
                    if t.health.as_deref() != Some(c.health.state.as_str()) {
                        health_writes.push((key.clone(), c.health.state.clone()));
                    }
                    c
                });
                c.follow_drain(t.draining, now);
                if let Some(a) = addr
                    && !t.draining
                {
                    if c.health.state == "healthy" {
                        route.healthy.push(a);
                    }
                    route.registered.push(a);
                }
                let interval = Duration::from_secs(tg.health_check_interval.max(1) as u64);
                if tg.health_check_enabled && c.due(now, addr.is_some(), interval) {
                    let seq = c.start(now, interval);
                    let path = tg.health_check_path.clone().unwrap_or_else(|| "/".into());
                    let matcher = tg.matcher.clone().unwrap_or_else(|| "200".into());
                    let timeout = Duration::from_secs(tg.health_check_timeout.max(1) as u64);
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        let ok = match addr {
                            Some(a) => {
                                match tokio::time::timeout(timeout, health_get(a, &path)).await {
                                    Ok(Ok(status)) => matches_codes(&matcher, status),
                                    _ => false,
                                }
                            }
                            None => false,
                        };
                        let _ = tx.send((key, seq, ok));
                    });
                }
            }
        }
        new_routes.insert(lb.arn.clone(), Arc::new(route));
    }
    checks.retain(|k, _| live_keys.contains(k));
    // Every load balancer's listener reads its own slot: an ALB without a controller
    // owner has an empty route (502s).
    routes.retain(|arn, _| snap.elbv2.load_balancers.iter().any(|lb| &lb.arn == arn));
    for lb in &snap.elbv2.load_balancers {
        let route = new_routes.remove(&lb.arn).unwrap_or_default();
        let slot = routes.entry(lb.arn.clone()).or_default();
        *slot.write().unwrap_or_else(|p| p.into_inner()) = route;
    }

    // 4. Write what changed: addresses, target health, expired drains, GA endpoint health.
    let expired: std::collections::HashSet<TargetKey> = checks
        .iter()
        .filter(|(_, c)| c.drain_expired(now, DEREGISTRATION_DELAY))
        .map(|(k, _)| k.clone())
        .collect();
    let ga_wanted = ga_health(&snap, checks);
    let ga_changed = snap.ga.accelerators.iter().any(|a| {
        a.listeners.iter().any(|l| {
            l.endpoint_groups.iter().any(|g| {
                g.endpoints.iter().any(|e| {
                    ga_wanted
                        .get(&e.id)
                        .is_some_and(|w| e.health.as_deref() != w.as_deref())
                })
            })
        })
    });
    if !assign.is_empty() || !health_writes.is_empty() || !expired.is_empty() || ga_changed {
        let r = ctx.aws.with_state("", true, |s, _| {
            for (arn, listen) in &assign {
                if let Some(lb) = s.elbv2.load_balancers.iter_mut().find(|l| &l.arn == arn) {
                    lb.listen.get_or_insert_with(|| listen.clone());
                }
            }
            for ((tg_arn, id, port), state) in &health_writes {
                if let Some(t) = s
                    .elbv2
                    .target_groups
                    .iter_mut()
                    .find(|t| &t.arn == tg_arn)
                    .and_then(|tg| {
                        tg.targets
                            .iter_mut()
                            .find(|t| &t.id == id && t.port == *port)
                    })
                {
                    t.health = Some(state.clone());
                }
            }
            for tg in &mut s.elbv2.target_groups {
                let arn = tg.arn.clone();
                tg.targets.retain(|t| {
                    !(t.draining && expired.contains(&(arn.clone(), t.id.clone(), t.port)))
                });
            }
            for a in &mut s.ga.accelerators {
                for l in &mut a.listeners {
                    for g in &mut l.endpoint_groups {
                        for e in &mut g.endpoints {
                            if let Some(w) = ga_wanted.get(&e.id) {
                                e.health = w.clone();
                            }
                        }
                    }
                }
            }
            Ok(())
        });
        if let Err(e) = r {
            tracing::warn!("ALB data plane: saving state failed: {}", e.message);
        }
    }

    // 5. Listeners: one per load balancer with an address.
    let mut listens: BTreeMap<String, (String, String)> = BTreeMap::new();
    for lb in &snap.elbv2.load_balancers {
        let listen = lb.listen.clone().or_else(|| {
            assign
                .iter()
                .find(|(a, _)| *a == lb.arn)
                .map(|(_, l)| l.clone())
        });
        if let Some(l) = listen {
            listens.insert(lb.arn.clone(), (l, lb.name.clone()));
        }
    }
    served.retain(|arn, s| listens.get(arn).is_some_and(|(l, _)| *l == s.listen));
    for (arn, (listen, name)) in listens {
        if served.contains_key(&arn) {
            continue;
        }
        let addr: SocketAddr = match listen.parse() {
            Ok(a) => a,
            Err(_) => continue,
        };
        match listen::bind(addr) {
            Ok(listener) => {
                warned.remove(&arn);
                let slot = routes.entry(arn.clone()).or_default().clone();
                let proxy = alb_proxy::Proxy::new(name, slot, ctx.limits.alb.clone());
                let task = tokio::spawn(alb_proxy::serve(listener, proxy));
                served.insert(arn, Served { listen, task });
            }
            Err(e) => {
                let msg = e.to_string();
                if warned.get(&arn) != Some(&msg) {
                    tracing::warn!("ALB {name}: cannot listen on {addr}: {msg} (retrying)");
                    warned.insert(arn, msg);
                }
            }
        }
    }
}

/// GA endpoint health by ALB ARN: `Some(HEALTHY|UNHEALTHY)` once every target group of
/// the ALB has a verdict for some target (or none has targets), None until then.
fn ga_health(
    snap: &AwsState,
    checks: &HashMap<TargetKey, Check>,
) -> HashMap<String, Option<String>> {
    let mut out = HashMap::new();
    for lb in &snap.elbv2.load_balancers {
        let groups: Vec<_> = snap
            .elbv2
            .target_groups
            .iter()
            .filter(|t| t.load_balancer_arns.contains(&lb.arn))
            .collect();
        if groups.is_empty() {
            continue;
        }
        let state = |tg: &crate::aws::elbv2::TargetGroup, t: &crate::aws::elbv2::Target| {
            checks
                .get(&(tg.arn.clone(), t.id.clone(), t.port))
                .map(|c| c.health.state.clone())
        };
        // Health follows the checks, draining targets included: a scaled-down app makes
        // the endpoint unhealthy after interval x unhealthy threshold, as Global
        // Accelerator sees it on AWS (the ALB itself answers 502 at once).
        let all_healthy = groups.iter().all(|tg| {
            tg.targets
                .iter()
                .any(|t| state(tg, t).as_deref() == Some("healthy"))
        });
        let undecided = groups.iter().any(|tg| {
            !tg.targets.is_empty()
                && tg
                    .targets
                    .iter()
                    .all(|t| matches!(state(tg, t).as_deref(), None | Some("initial")))
        });
        let verdict = if all_healthy {
            Some("HEALTHY".to_string())
        } else if undecided {
            None
        } else {
            Some("UNHEALTHY".to_string())
        };
        out.insert(lb.arn.clone(), verdict);
    }
    out
}

/// One `GET path` on a target; its status code.
async fn health_get(addr: SocketAddr, path: &str) -> std::io::Result<u16> {
    let head = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: ELB-HealthChecker/2.0\r\nConnection: close\r\n\r\n"
    );
    let (status, _, _) = exchange(addr, head.into_bytes(), Vec::new()).await?;
    Ok(status)
}

type Exchanged = (u16, Vec<(String, String)>, Vec<u8>);

/// Writes a request and reads the whole response (the connection is closed after it).
async fn exchange(addr: SocketAddr, head: Vec<u8>, body: Vec<u8>) -> std::io::Result<Exchanged> {
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(&head).await?;
    s.write_all(&body).await?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await?;
    parse_response(&buf).ok_or_else(|| std::io::Error::other("malformed HTTP response"))
}

fn parse_response(buf: &[u8]) -> Option<Exchanged> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&buf[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = buf[end + 4..].to_vec();
    let get = |k: &str| {
        headers
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    };
    if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        body = dechunk(&body)?;
    } else if let Some(n) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.truncate(n);
    }
    Some((status, headers, body))
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&b[..eol]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        b = &b[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_follows_the_thresholds_like_a_target_group() {
        let mut h = TargetHealth::new(None);
        assert_eq!(h.state, "initial");
        assert!(!h.observe(true, 2, 3));
        assert!(h.observe(true, 2, 3));
        assert_eq!(h.state, "healthy");
        assert!(!h.observe(false, 2, 3));
        assert!(!h.observe(false, 2, 3));
        // A success in between starts the count again.
        assert!(!h.observe(true, 2, 3));
        assert!(!h.observe(false, 2, 3));
        assert!(!h.observe(false, 2, 3));
        assert!(h.observe(false, 2, 3));
        assert_eq!(h.state, "unhealthy");
        assert!(!h.observe(true, 2, 3));
        assert!(h.observe(true, 2, 3));
        assert_eq!(h.state, "healthy");
        // A new target that never answers goes initial -> unhealthy.
        let mut h = TargetHealth::new(None);
        assert!(!h.observe(false, 5, 2));
        assert!(h.observe(false, 5, 2));
        assert_eq!(h.state, "unhealthy");
        assert_eq!(TargetHealth::new(Some("healthy")).state, "healthy");
    }

    /// One target's checks driven as `pass` drives them, on its 100 ms tick with a
    /// controlled clock: a check started in one pass is answered by the next (success
    /// iff the pod has an address then). `address(t)` says whether the pod has one at
    /// `t`. Returns when the target first turned `unhealthy` at or after `after`.
    fn first_unhealthy(
        interval: Duration,
        address: impl Fn(Duration) -> bool,
        after: Duration,
        until: Duration,
    ) -> Option<Duration> {
        let base = Instant::now();
        let mut c = Check::new(None, base);
        let mut answer: Option<(u64, bool)> = None;
        let mut t = Duration::ZERO;
        while t <= until {
            let now = base + t;
            if let Some((seq, ok)) = answer.take() {
                c.finish(seq, ok, 2, 2);
            }
            if t >= after && c.health.state == "unhealthy" {
                return Some(t);
            }
            if c.due(now, address(t), interval) {
                answer = Some((c.start(now, interval), address(t)));
            }
            t += TICK;
        }
        None
    }

    #[test]
    fn a_scale_down_is_detected_no_sooner_than_one_interval_short_of_the_floor() {
        // 5 s x 2 as in the drill; the pod part opens the pod's listener one of its
        // ticks after the target was registered. Whenever the pod goes away, even before
        // the target ever turned healthy (a drill run right after the deploy), the two
        // failed checks need at least one interval after it, at most two and a tick.
        let interval = Duration::from_secs(5);
        let listening = Duration::from_millis(150);
        for gone_ds in 2..200u64 {
            let gone = Duration::from_millis(gone_ds * 100);
            let at = first_unhealthy(
                interval,
                |t| t >= listening && t < gone,
                gone,
                gone + Duration::from_secs(30),
            )
            .unwrap_or_else(|| panic!("never unhealthy after the pod went at {gone:?}"));
            let took = at - gone;
            assert!(
                took >= interval && took <= 2 * interval + 2 * TICK,
                "pod gone at {gone:?}: unhealthy {took:?} later"
            );
        }
    }

    #[test]
    fn the_first_check_waits_for_the_pod_at_most_one_interval() {
        let interval = Duration::from_secs(5);
        let base = Instant::now();
        let c = Check::new(None, base);
        assert!(c.due(base, true, interval));
        assert!(!c.due(base, false, interval));
        assert!(!c.due(base + interval - TICK, false, interval));
        // A target with no pod behind it is checked (and fails) after one interval.
        assert!(c.due(base + interval, false, interval));
        assert_eq!(
            first_unhealthy(interval, |_| false, Duration::ZERO, Duration::from_secs(30)),
            Some(2 * interval + TICK)
        );
        // After the first check, checks go on one interval apart with or without a pod.
        let mut c = Check::new(None, base);
        let seq = c.start(base, interval);
        assert!(!c.due(base + TICK, true, interval));
        assert!(!c.finish(seq, false, 2, 2));
        // A second answer to the same check does not count.
        assert!(!c.finish(seq, false, 2, 2));
        assert_eq!((c.health.state.as_str(), c.health.failures), ("initial", 1));
        assert!(c.due(base + interval, false, interval));
    }

    #[test]
    fn draining_targets_are_deregistered_the_delay_after_the_drain_began() {
        let base = Instant::now();
        let s = Duration::from_secs;
        let mut c = Check::new(Some("healthy"), base);
        c.follow_drain(false, base + s(10));
        assert!(!c.drain_expired(base + s(1000), DEREGISTRATION_DELAY));
        // Registered 400 s ago, draining for 1 s: not yet.
        c.follow_drain(true, base + s(400));
        c.follow_drain(true, base + s(401));
        assert!(!c.drain_expired(base + s(401), DEREGISTRATION_DELAY));
        assert!(!c.drain_expired(base + s(699), DEREGISTRATION_DELAY));
        assert!(c.drain_expired(base + s(700), DEREGISTRATION_DELAY));
        // Back in service (a new pod with the same IP): the clock stops, and starts
        // again with the next drain.
        c.follow_drain(false, base + s(700));
        assert!(!c.drain_expired(base + s(800), DEREGISTRATION_DELAY));
        c.follow_drain(true, base + s(800));
        assert!(!c.drain_expired(base + s(1099), DEREGISTRATION_DELAY));
        assert!(c.drain_expired(base + s(1100), DEREGISTRATION_DELAY));
    }

    #[test]
    fn success_codes_and_responses_parse() {
        assert!(matches_codes("200", 200));
        assert!(!matches_codes("200", 204));
        assert!(matches_codes("200,204", 204));
        assert!(matches_codes("200-399", 302));
        assert!(!matches_codes("200-399", 404));
        let r =
            parse_response(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-a: b\r\n\r\nhello").unwrap();
        assert_eq!(r.0, 200);
        assert_eq!(r.2, b"hello");
        let r = parse_response(b"HTTP/1.1 404 Not Found\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").unwrap();
        assert_eq!((r.0, r.2.as_slice()), (404, &b"abcde"[..]));
    }
}
