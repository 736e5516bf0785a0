//! One ALB listener: accepts HTTP/1.x connections and forwards each request to one of
//! the load balancer's targets (round robin over its current [`Route`]), over
//! keep-alive upstream connections that are reused across requests and client
//! connections, as an ALB keeps its backend connections.
//!
//! What a request gets on the way, as through an ALB: hop-by-hop fields dropped (and the
//! ones `Connection` names), `X-Forwarded-For` with the client's address appended,
//! `X-Forwarded-Proto: http`; `Expect: 100-continue` is answered by the proxy itself.
//! Every answer carries `x-sandbox-alb: <name>`. No target, a refused or failed forward,
//! or a body over [`MAX_REQUEST_BODY`] get ELB's own 502; a target silent for the idle
//! timeout, 504. What RFC 9112 or the ALB's header limits make an error
//! ([`Refusal`]: smuggling framings, a bad Content-Length, unknown codings, no Host,
//! oversized heads, bytes that are not HTTP, a bad chunk) gets 400 (501 for an unknown
//! transfer coding) with `Connection: close`, and the connection is closed; such a
//! request is never forwarded whole. Upgrades (WebSocket) are not forwarded.
//!
//! Timeouts and bounds ([`AlbLimits`]): the idle timeout between requests, a deadline
//! for a whole request head from its first byte (so a client trickling its head is
//! closed too), the client keep-alive duration, and a bound on open connections past
//! which a new one gets ELB's 503.
//!
//! The request body is sent before the response is read (no full duplex), which is all
//! plain request/response HTTP needs.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use super::http1::{self, BodyError, Conn, Framing, Head, HeadRead, HeadScan, Kind, Refusal};
use super::limits::AlbLimits;
use crate::serving::listen::{self, Gate};

/// Idle upstream connections kept per target.
const POOL_PER_TARGET: usize = 256;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest request body forwarded (larger ones get the 502).
pub const MAX_REQUEST_BODY: u64 = 64 << 20;
/// ELB's own 502 page, byte for byte.
pub const BAD_GATEWAY_BODY: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n";
const BAD_GATEWAY: &str = "502 Bad Gateway";
const GATEWAY_TIMEOUT: &str = "504 Gateway Time-out";
const UNAVAILABLE: &str = "503 Service Temporarily Unavailable";

/// What one ALB forwards to, replaced by the reconcile task every tick.
#[derive(Debug, Default, Clone)]
pub struct Route {
    pub healthy: Vec<SocketAddr>,
    /// Every registered, not draining target that answers (fail-open).
    pub registered: Vec<SocketAddr>,
}

/// The ALB's current route, shared between the reconcile task and the listener.
pub type RouteSlot = Arc<RwLock<Arc<Route>>>;

/// One listener's state.
pub struct Proxy {
    pub name: String,
    pub route: RouteSlot,
    limits: AlbLimits,
    /// Client connections open at once, those the accelerator hands over included.
    gate: Gate,
    next: AtomicUsize,
    pool: Mutex<HashMap<SocketAddr, Vec<(Conn, Instant)>>>,
}

impl Proxy {
    pub fn new(name: String, route: RouteSlot, limits: AlbLimits) -> Arc<Self> {
        Arc::new(Proxy {
            name,
            route,
            gate: Gate::new(limits.max_connections),
            limits,
            next: AtomicUsize::new(0),
            pool: Mutex::default(),
        })
    }

    /// The next target, round robin over the healthy ones, else (fail-open) over the
    /// registered ones.
    fn pick(&self) -> Option<SocketAddr> {
        let route = self.route.read().unwrap_or_else(|p| p.into_inner()).clone();
        let pool = if route.healthy.is_empty() {
            &route.registered
        } else {
            &route.healthy
        };
        (!pool.is_empty()).then(|| pool[self.next.fetch_add(1, Ordering::Relaxed) % pool.len()])
    }

    /// An idle upstream connection to `to` that is still open, if one is pooled. Kept
    /// no longer than the idle timeout, as an ALB keeps its target connections.
    fn checkout(&self, to: SocketAddr) -> Option<Conn> {
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        let idle = pool.get_mut(&to)?;
        while let Some((conn, since)) = idle.pop() {
            let mut probe = [0u8; 1];
            // Open and quiet reads as WouldBlock; closed reads 0; stray bytes spoil it.
            if since.elapsed() < self.limits.idle_timeout
                && matches!(conn.stream.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
            {
                return Some(conn);
            }
        }
        None
    }

    fn checkin(&self, to: SocketAddr, conn: Conn) {
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        let idle = pool.entry(to).or_default();
        if idle.len() < POOL_PER_TARGET {
            idle.push((conn, Instant::now()));
        }
    }
}

/// The ALB listeners of this process by address, so that an accelerator routing a
/// connection to one hands the connection over instead of relaying it through a second
/// loopback connection (which cost about a fifth of the throughput in the dev build).
fn listening_here() -> &'static Mutex<HashMap<SocketAddr, Weak<Proxy>>> {
    static LISTENERS: OnceLock<Mutex<HashMap<SocketAddr, Weak<Proxy>>>> = OnceLock::new();
    LISTENERS.get_or_init(Mutex::default)
}

/// The ALB listening on `addr` in this process, if one is.
pub fn listening(addr: SocketAddr) -> Option<Arc<Proxy>> {
    listening_here()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&addr)?
        .upgrade()
}

/// Takes a listener's entry out of [`listening_here`] when its task ends or is aborted.
struct Listed(SocketAddr, Weak<Proxy>);

impl Drop for Listed {
    fn drop(&mut self) {
        let mut map = listening_here().lock().unwrap_or_else(|p| p.into_inner());
        if map.get(&self.0).is_some_and(|w| w.ptr_eq(&self.1)) {
            map.remove(&self.0);
        }
    }
}

/// Serves one client connection (from the listener, or handed over by an accelerator
/// with the client's address as the ALB sees it); past the connection bound, ELB's 503.
pub async fn handle(proxy: Arc<Proxy>, stream: TcpStream, client_ip: IpAddr) {
    let Some(_slot) = proxy.gate.enter() else {
        tracing::debug!(alb = %proxy.name, "at the connection bound: 503");
        let answer = own_answer(UNAVAILABLE, &proxy.name, true);
        listen::answer_and_close(stream, &answer).await;
        return;
    };
    client(proxy, stream, client_ip).await
}

/// Serves `listener` until the task is aborted; its connections end with it.
pub async fn serve(listener: TcpListener, proxy: Arc<Proxy>) {
    let _listed = listener.local_addr().ok().map(|addr| {
        let weak = Arc::downgrade(&proxy);
        listening_here()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(addr, weak.clone());
        Listed(addr, weak)
    });
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(handle(proxy.clone(), stream, peer.ip()));
                }
                Err(e) => {
                    tracing::debug!(alb = %proxy.name, error = %e, "ALB accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// What a request needs for its forward and its answer.
struct Request {
    /// The head to send upstream, without `Host` when the client sent none.
    head: Vec<u8>,
    has_host: bool,
    body: Framing,
    /// HEAD: the response has no body whatever its fields say.
    head_method: bool,
    /// The client speaks HTTP/1.0 (no chunked answers).
    http10: bool,
    keep_alive: bool,
    expect_continue: bool,
}

/// Parses and checks a client's request head and writes the head to forward.
fn request(raw: &[u8], client: &str) -> Result<Request, Refusal> {
    let h = Head::request(raw)?;
    let body = h.request_framing()?;
    let [method, target, version] = h.start;
    let http10 = version == "HTTP/1.0";
    // Absolute form (as sent to proxies) becomes origin form.
    let path = match target.split_once("://") {
        Some((_, rest)) if target.starts_with("http") => rest.find('/').map_or("/", |i| &rest[i..]),
        _ => target,
    };
    let keep_alive = if http10 {
        h.has_token("connection", "keep-alive")
    } else {
        !h.has_token("connection", "close")
    };
    let expect_continue = h
        .get("expect")
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    let named = h.connection_named();
    let mut head = Vec::with_capacity(raw.len() + 96);
    for part in [method, " ", path, " HTTP/1.1\r\n"] {
        head.extend_from_slice(part.as_bytes());
    }
    let mut forwarded_for: Option<&str> = None;
    for &(name, value) in &h.fields {
        if http1::hop_by_hop(name)
            || named.iter().any(|n| n.eq_ignore_ascii_case(name))
            || name.eq_ignore_ascii_case("x-forwarded-proto")
            || (expect_continue && name.eq_ignore_ascii_case("expect"))
        {
            continue;
        }
        if name.eq_ignore_ascii_case("x-forwarded-for") {
            forwarded_for = Some(value);
            continue;
        }
        for part in [name, ": ", value, "\r\n"] {
            head.extend_from_slice(part.as_bytes());
        }
    }
    head.extend_from_slice(b"X-Forwarded-For: ");
    if let Some(before) = forwarded_for.filter(|v| !v.is_empty()) {
        head.extend_from_slice(before.as_bytes());
        head.extend_from_slice(b", ");
    }
    head.extend_from_slice(client.as_bytes());
    head.extend_from_slice(b"\r\nX-Forwarded-Proto: http\r\n");
    if body == Framing::Chunked {
        head.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
    }
    Ok(Request {
        head,
        has_host: h.get("host").is_some(),
        body,
        head_method: method == "HEAD",
        http10,
        keep_alive,
        expect_continue,
    })
}

/// ELB's own page for `status` (`502 Bad Gateway`...), in the shape of [`BAD_GATEWAY_BODY`].
fn elb_page(status: &str) -> String {
    format!(
        "<html>\r\n<head><title>{status}</title></head>\r\n<body>\r\n<center><h1>{status}</h1></center>\r\n</body>\r\n</html>\r\n"
    )
}

/// An answer of the proxy's own (400, 501, 502, 503, 504).
fn own_answer(status: &str, alb: &str, close: bool) -> Vec<u8> {
    let body = elb_page(status);
    format!(
        "HTTP/1.1 {status}\r\nServer: awselb/2.0\r\nContent-Type: text/html\r\nContent-Length: {}\r\nx-sandbox-alb: {alb}\r\n{}\r\n{body}",
        body.len(),
        if close { "Connection: close\r\n" } else { "" }
    )
    .into_bytes()
}

/// A connection's deadline, armed as one timer and moved without touching it while it
/// only moves later: registering a timer per request (`tokio::time::timeout`) cost about
/// a fifth of the proxy's throughput in the unoptimised dev build.
struct Deadline {
    sleep: std::pin::Pin<Box<tokio::time::Sleep>>,
    /// When the timer fires.
    armed: Instant,
    /// When the deadline is (the timer is re-armed for it when it fires early).
    at: Instant,
}

impl Deadline {
    fn new(after: Duration) -> Self {
        let at = Instant::now() + after;
        Deadline {
            sleep: Box::pin(tokio::time::sleep_until(at.into())),
            armed: at,
            at,
        }
    }

    /// Moves the deadline to `after` from now.
    fn extend(&mut self, after: Duration) {
        self.set(Instant::now() + after);
    }

    /// Moves the deadline to `at`; the timer is re-armed only when `at` is earlier.
    fn set(&mut self, at: Instant) {
        if at < self.armed {
            self.sleep.as_mut().reset(at.into());
            self.armed = at;
        }
        self.at = at;
    }

    /// Resolves once the deadline has passed.
    async fn passed(&mut self) {
        loop {
            self.sleep.as_mut().await;
            if Instant::now() >= self.at {
                return;
            }
            self.sleep.as_mut().reset(self.at.into());
            self.armed = self.at;
        }
    }
}

/// How waiting for a request head ended, when no head came.
enum NoHead {
    /// The client closed, failed, idled out or ran out its header deadline.
    Gone,
    Refused(Refusal),
}

/// Reads the next request head: until its first byte within the idle timeout, then
/// whole within the header timeout from that byte; its length.
async fn next_head(
    down: &mut Conn,
    deadline: &mut Deadline,
    limits: &AlbLimits,
) -> Result<usize, NoHead> {
    let mut scan = HeadScan::new(Kind::Request, http1::REQUEST_LIMITS);
    let mut first_byte: Option<Instant> = None;
    loop {
        match scan.advance(down.pending()) {
            Ok(Some(n)) => return Ok(n),
            Ok(None) => {}
            Err(r) => return Err(NoHead::Refused(r)),
        }
        if !down.pending().is_empty() {
            let now = Instant::now();
            let first = *first_byte.get_or_insert(now);
            deadline.set((first + limits.header_timeout).min(now + limits.idle_timeout));
        }
        let read = tokio::select! {
            biased;
            r = down.fill() => r,
            _ = deadline.passed() => return Err(NoHead::Gone),
        };
        if !matches!(read, Ok(n) if n > 0) {
            return Err(NoHead::Gone);
        }
    }
}

/// One client connection: requests in turn until it closes, idles out, fails or is
/// refused.
async fn client(proxy: Arc<Proxy>, stream: TcpStream, ip: IpAddr) {
    let limits = &proxy.limits;
    let opened = Instant::now();
    let mut down = Conn::new(stream);
    let ip = ip.to_string();
    // The upstream connection of the last request, kept while the next goes to the
    // same target (the common case); returned to the pool otherwise.
    let mut held: Option<(SocketAddr, Conn)> = None;
    let mut out = Vec::new();
    let mut deadline = Deadline::new(limits.idle_timeout);
    let refused = loop {
        deadline.extend(limits.idle_timeout);
        let len = match next_head(&mut down, &mut deadline, limits).await {
            Ok(n) => n,
            Err(NoHead::Gone) => break None,
            Err(NoHead::Refused(r)) => break Some(r),
        };
        let mut req = match request(&down.pending()[..len], &ip) {
            Ok(req) => req,
            Err(r) => break Some(r),
        };
        down.consume(len);
        // Past the client keep-alive duration the connection closes after this answer.
        req.keep_alive &= opened.elapsed() < limits.client_keep_alive;
        deadline.extend(limits.idle_timeout);
        let mut answering = false;
        let outcome = tokio::select! {
            biased;
            o = exchange(&proxy, &mut down, &mut held, &req, &mut out, &mut answering) => o,
            _ = deadline.passed() => Outcome::Failed { answered: answering, timed_out: true },
        };
        match outcome {
            Outcome::Done { keep_alive: true } => {}
            Outcome::Done { keep_alive: false } => break None,
            Outcome::Refused(r) => {
                held = None;
                break Some(r);
            }
            Outcome::Failed {
                answered,
                timed_out,
            } => {
                held = None;
                if answered {
                    break None;
                }
                let close = !req.keep_alive || req.body != Framing::None;
                let status = if timed_out {
                    GATEWAY_TIMEOUT
                } else {
                    BAD_GATEWAY
                };
                let answer = own_answer(status, &proxy.name, close);
                if down.stream.write_all(&answer).await.is_err() || close {
                    // A body not (fully) read leaves the stream out of step: close.
                    break None;
                }
            }
        }
    };
    if let Some((to, conn)) = held {
        proxy.checkin(to, conn);
    }
    if let Some(r) = refused {
        tracing::debug!(alb = %proxy.name, client = %ip, refusal = %r, "request refused");
        let answer = own_answer(r.status(), &proxy.name, true);
        listen::answer_and_close(down.stream, &answer).await;
    }
}

enum Outcome {
    Done {
        keep_alive: bool,
    },
    /// The request's own body broke its framing: the proxy answers it.
    Refused(Refusal),
    /// `answered`: part of an answer already went to the client; `timed_out`: the
    /// target said nothing within the idle timeout.
    Failed {
        answered: bool,
        timed_out: bool,
    },
}

/// Forwards one request and its answer; `answering` turns true once anything of the
/// answer has gone to the client.
async fn exchange(
    proxy: &Proxy,
    down: &mut Conn,
    held: &mut Option<(SocketAddr, Conn)>,
    req: &Request,
    out: &mut Vec<u8>,
    answering: &mut bool,
) -> Outcome {
    let failed = Outcome::Failed {
        answered: false,
        timed_out: false,
    };
    let Some(to) = proxy.pick() else {
        return failed;
    };
    if req.expect_continue && req.body != Framing::None {
        let _ = down
            .stream
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .await;
    }
    let mut reused = true;
    let mut up = match held.take() {
        Some((addr, conn)) if addr == to => conn,
        other => {
            if let Some((addr, conn)) = other {
                proxy.checkin(addr, conn);
            }
            match proxy.checkout(to) {
                Some(c) => c,
                None => match connect(to).await {
                    Ok(c) => {
                        reused = false;
                        c
                    }
                    Err(_) => return failed,
                },
            }
        }
    };
    // Send; a reused connection the target closed meanwhile is replaced once, when
    // nothing of the request is lost by it (no body).
    let head = |out: &mut Vec<u8>| {
        out.clear();
        out.extend_from_slice(&req.head);
        if !req.has_host {
            out.extend_from_slice(format!("Host: {to}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    };
    head(out);
    let sent = http1::copy_body(
        down,
        &mut up.stream,
        req.body,
        req.body == Framing::Chunked,
        MAX_REQUEST_BODY,
        out,
    )
    .await;
    match sent {
        Ok(()) => {}
        // The target got a truncated request on a connection now dropped: it never
        // sees the request whole.
        Err(BodyError::Malformed(_)) => return Outcome::Refused(Refusal::BadChunk),
        Err(_) => {
            out.clear();
            return failed;
        }
    }
    let mut got = up.read_head(Kind::Response, http1::RESPONSE_LIMITS).await;
    if reused
        && req.body == Framing::None
        && !matches!(got, Ok(HeadRead::Complete(_) | HeadRead::Refused(_)))
    {
        let Ok(fresh) = connect(to).await else {
            return failed;
        };
        up = fresh;
        head(out);
        if up.stream.write_all(out).await.is_err() {
            return failed;
        }
        got = up.read_head(Kind::Response, http1::RESPONSE_LIMITS).await;
    }
    // Interim (1xx) answers go to an HTTP/1.1 client as they come.
    let (len, status, resp) = loop {
        let len = match got {
            Ok(HeadRead::Complete(len)) => len,
            Ok(HeadRead::Refused(r)) => {
                tracing::debug!(alb = %proxy.name, target = %to, refusal = %r, "a target's answer refused");
                return failed;
            }
            _ => return failed,
        };
        let Some(resp) = response(&up.pending()[..len], req, &proxy.name) else {
            return failed;
        };
        if (100..200).contains(&resp.status) && resp.status != 101 {
            *answering |= !req.http10;
            if !req.http10 && down.stream.write_all(&up.pending()[..len]).await.is_err() {
                return Outcome::Failed {
                    answered: true,
                    timed_out: false,
                };
            }
            up.consume(len);
            got = up.read_head(Kind::Response, http1::RESPONSE_LIMITS).await;
            continue;
        }
        break (len, resp.status, resp);
    };
    if status == 101 {
        return failed;
    }
    up.consume(len);
    *answering = true;
    out.clear();
    out.extend_from_slice(&resp.head);
    let copied = http1::copy_body(
        &mut up,
        &mut down.stream,
        resp.body,
        resp.rechunk,
        u64::MAX,
        out,
    )
    .await;
    if copied.is_err() {
        return Outcome::Failed {
            answered: true,
            timed_out: false,
        };
    }
    if resp.upstream_reusable && up.pending().is_empty() {
        *held = Some((to, up));
    }
    Outcome::Done {
        keep_alive: resp.keep_alive,
    }
}

async fn connect(to: SocketAddr) -> io::Result<Conn> {
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(to))
        .await
        .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
    let _ = stream.set_nodelay(true);
    Ok(Conn::new(stream))
}

/// What an upstream answer head becomes.
struct Response {
    status: u16,
    /// The head for the client, with its blank line.
    head: Vec<u8>,
    body: Framing,
    /// Sent to the client as chunks (a chunked or until-close body to an HTTP/1.1 client).
    rechunk: bool,
    /// The client connection stays open after it.
    keep_alive: bool,
    upstream_reusable: bool,
}

fn response(raw: &[u8], req: &Request, alb: &str) -> Option<Response> {
    let h = Head::response(raw)?;
    let [version, code, reason] = h.start;
    let status: u16 = code.parse().ok()?;
    let upstream_close = if version == "HTTP/1.0" {
        !h.has_token("connection", "keep-alive")
    } else {
        h.has_token("connection", "close")
    };
    let body = if req.head_method || status == 204 || status == 304 || status < 200 {
        Framing::None
    } else {
        match h.framing()? {
            Framing::None => Framing::UntilClose,
            f => f,
        }
    };
    // A body that ends only with the connection can reach an HTTP/1.0 client only the
    // same way.
    let rechunk = !req.http10 && matches!(body, Framing::Chunked | Framing::UntilClose);
    let keep_alive =
        req.keep_alive && !(req.http10 && matches!(body, Framing::Chunked | Framing::UntilClose));
    let named = h.connection_named();
    let mut head = Vec::with_capacity(raw.len() + 64);
    for part in ["HTTP/1.1 ", code, " ", reason, "\r\n"] {
        head.extend_from_slice(part.as_bytes());
    }
    for &(name, value) in &h.fields {
        if http1::hop_by_hop(name)
            || named.iter().any(|n| n.eq_ignore_ascii_case(name))
            || name.eq_ignore_ascii_case("x-sandbox-alb")
            || (rechunk && name.eq_ignore_ascii_case("content-length"))
        {
            continue;
        }
        for part in [name, ": ", value, "\r\n"] {
            head.extend_from_slice(part.as_bytes());
        }
    }
    for part in ["x-sandbox-alb: ", alb, "\r\n"] {
        head.extend_from_slice(part.as_bytes());
    }
    if rechunk {
        head.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
    }
    if !keep_alive {
        head.extend_from_slice(b"Connection: close\r\n");
    } else if req.http10 {
        head.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    head.extend_from_slice(b"\r\n");
    Some(Response {
        status,
        head,
        body,
        rechunk,
        keep_alive,
        upstream_reusable: !upstream_close && body != Framing::UntilClose,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serving::slow_client;

    fn text(b: &[u8]) -> String {
        String::from_utf8_lossy(b).into_owned()
    }

    /// An upstream that echoes what it got: the body, X-Forwarded-For and Host, and the
    /// port the request came from (one port per upstream connection).
    async fn echo_upstream() -> SocketAddr {
        use axum::extract::ConnectInfo;
        use axum::http::HeaderMap;
        let app = axum::Router::new().fallback(
            |ConnectInfo(peer): ConnectInfo<SocketAddr>, h: HeaderMap, body: String| async move {
                let get = |k: &str| {
                    h.get(k)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string()
                };
                (
                    [
                        ("x-port", peer.port().to_string()),
                        ("x-ff", get("x-forwarded-for")),
                        ("x-host", get("host")),
                    ],
                    body,
                )
            },
        );
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(l, app.into_make_service_with_connect_info::<SocketAddr>())
                .await
                .unwrap()
        });
        addr
    }

    /// A proxy named `alb` forwarding to `targets`; where it listens.
    async fn proxy_to(targets: Vec<SocketAddr>) -> SocketAddr {
        proxy_with(targets, AlbLimits::default()).await
    }

    /// The same with `limits`.
    async fn proxy_with(targets: Vec<SocketAddr>, limits: AlbLimits) -> SocketAddr {
        let route = Route {
            healthy: targets,
            registered: Vec::new(),
        };
        let proxy = Proxy::new("alb".into(), Arc::new(RwLock::new(Arc::new(route))), limits);
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(serve(l, proxy));
        addr
    }

    /// Sends `raw` and reads one answer: its head fields (lowercased names) and body.
    async fn ask(c: &mut Conn, raw: &str) -> (u16, HashMap<String, String>, String) {
        c.stream.write_all(raw.as_bytes()).await.unwrap();
        let HeadRead::Complete(len) = c
            .read_head(Kind::Response, http1::RESPONSE_LIMITS)
            .await
            .unwrap()
        else {
            panic!("no answer")
        };
        let (status, fields, framing) = {
            let h = Head::response(&c.pending()[..len]).unwrap();
            let fields: HashMap<String, String> = h
                .fields
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
                .collect();
            (h.start[1].parse().unwrap(), fields, h.framing().unwrap())
        };
        c.consume(len);
        let (mut a, mut b) = {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let a = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
            (a, l.accept().await.unwrap().0)
        };
        let chunked_out = false;
        let framing = match framing {
            Framing::None if status != 204 => Framing::UntilClose,
            f => f,
        };
        http1::copy_body(c, &mut a, framing, chunked_out, u64::MAX, &mut Vec::new())
            .await
            .unwrap();
        drop(a);
        let mut body = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut b, &mut body)
            .await
            .unwrap();
        (status, fields, String::from_utf8(body).unwrap())
    }

    #[tokio::test]
    async fn the_proxy_forwards_over_kept_connections_and_answers_502_itself() {
        let up = echo_upstream().await;
        let alb = proxy_to(vec![up]).await;
        let mut c = Conn::new(TcpStream::connect(alb).await.unwrap());
        let (status, f, body) = ask(&mut c, "GET /a HTTP/1.1\r\nHost: shop\r\n\r\n").await;
        assert_eq!((status, body.as_str()), (200, ""));
        assert_eq!(f["x-sandbox-alb"], "alb");
        assert_eq!(
            (f["x-ff"].as_str(), f["x-host"].as_str()),
            ("127.0.0.1", "shop")
        );
        let port = f["x-port"].clone();
        // A chunked body, re-chunked on the way; the same upstream connection.
        let (status, f, body) = ask(
            &mut c,
            "POST / HTTP/1.1\r\nHost: shop\r\nTransfer-Encoding: chunked\r\nX-Forwarded-For: 10.1.2.3\r\n\r\n3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n",
        )
        .await;
        assert_eq!((status, body.as_str()), (200, "hello"));
        assert_eq!(f["x-ff"], "10.1.2.3, 127.0.0.1");
        assert_eq!(f["x-port"], port, "the upstream connection was not reused");
        // Another client connection reuses the pooled one once the first is closed.
        drop(c);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut c = Conn::new(TcpStream::connect(alb).await.unwrap());
        let (_, f, _) = ask(&mut c, "GET / HTTP/1.1\r\nHost: shop\r\n\r\n").await;
        assert_eq!(f["x-port"], port);
        // Expect: 100-continue is answered by the proxy, then the real answer comes.
        c.stream
            .write_all(b"POST / HTTP/1.1\r\nHost: shop\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
            .await
            .unwrap();
        let HeadRead::Complete(len) = c
            .read_head(Kind::Response, http1::RESPONSE_LIMITS)
            .await
            .unwrap()
        else {
            panic!("no 100 Continue")
        };
        assert_eq!(&c.pending()[..len], b"HTTP/1.1 100 Continue\r\n\r\n");
        c.consume(len);
        let (status, _, body) = ask(&mut c, "ok").await;
        assert_eq!((status, body.as_str()), (200, "ok"));
        // HTTP/1.0 without Host: the target's address as Host, and the connection closed.
        let mut c10 = Conn::new(TcpStream::connect(alb).await.unwrap());
        let (status, f, _) = ask(&mut c10, "GET / HTTP/1.0\r\n\r\n").await;
        assert_eq!((status, f["x-host"].clone()), (200, up.to_string()));
        assert_eq!(f["connection"], "close");
        assert_eq!(c10.fill().await.unwrap(), 0);

        // No target: ELB's 502, and the connection stays usable.
        let none = proxy_to(Vec::new()).await;
        let mut c = Conn::new(TcpStream::connect(none).await.unwrap());
        for _ in 0..2 {
            let (status, f, body) = ask(&mut c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
            assert_eq!((status, body.as_str()), (502, BAD_GATEWAY_BODY));
            assert_eq!(
                (f["server"].as_str(), f["x-sandbox-alb"].as_str()),
                ("awselb/2.0", "alb")
            );
        }
        // A target that refuses: 502 too. Malformed: 400 and closed.
        let refused = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let gone = proxy_to(vec![refused]).await;
        let mut c = Conn::new(TcpStream::connect(gone).await.unwrap());
        assert_eq!(
            ask(&mut c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.0,
            502
        );
        let (status, _, _) = ask(&mut c, "NONSENSE\r\n\r\n").await;
        assert_eq!(status, 400);
        assert_eq!(c.fill().await.unwrap(), 0);
    }

    #[test]
    fn requests_are_rewritten_as_an_alb_forwards_them() {
        let ip = "127.0.0.9";
        let r = request(
            b"GET http://example.com/p?q=1 HTTP/1.1\r\nHost: example.com\r\nConnection: X-Secret, keep-alive\r\nX-Secret: 1\r\nKeep-Alive: timeout=5\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: https\r\nAccept: */*\r\n\r\n",
            ip,
        )
        .unwrap();
        assert_eq!(
            text(&r.head),
            "GET /p?q=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\nX-Forwarded-For: 10.0.0.1, 127.0.0.9\r\nX-Forwarded-Proto: http\r\n"
        );
        assert!(r.keep_alive && r.has_host && !r.http10 && r.body == Framing::None);
        let r = request(
            b"POST / HTTP/1.0\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
            ip,
        )
        .unwrap();
        assert!(!r.keep_alive && !r.has_host && r.http10 && r.expect_continue);
        assert_eq!(r.body, Framing::Length(4));
        assert!(!text(&r.head).to_ascii_lowercase().contains("expect"));
        let r = request(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n", ip).unwrap();
        assert!(!r.keep_alive && r.body == Framing::Chunked);
        assert!(text(&r.head).ends_with("Transfer-Encoding: chunked\r\n"));
        assert_eq!(
            request(b"GET / HTTP/2.0\r\n\r\n", ip).err(),
            Some(Refusal::Malformed)
        );
        assert_eq!(
            request(
                b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n",
                ip
            )
            .err(),
            Some(Refusal::UnknownCoding)
        );
    }

    #[test]
    fn answers_are_rewritten_and_framed_for_the_client() {
        let ip = "127.0.0.9";
        let get11 = request(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", ip).unwrap();
        let r = response(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\nx-sandbox-alb: spoofed\r\n\r\n",
            &get11,
            "my-alb",
        )
        .unwrap();
        assert_eq!(
            text(&r.head),
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nx-sandbox-alb: my-alb\r\n\r\n"
        );
        assert!(r.keep_alive && r.upstream_reusable && !r.rechunk);
        assert_eq!(r.body, Framing::Length(5));
        // No length: until close upstream, chunks to an HTTP/1.1 client.
        let r = response(b"HTTP/1.0 200 OK\r\n\r\n", &get11, "a").unwrap();
        assert!(r.rechunk && r.keep_alive && !r.upstream_reusable);
        assert!(text(&r.head).contains("Transfer-Encoding: chunked\r\n"));
        // ...and the connection closed to an HTTP/1.0 one.
        let get10 = request(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", ip).unwrap();
        let r = response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            &get10,
            "a",
        )
        .unwrap();
        assert!(!r.rechunk && !r.keep_alive);
        assert!(text(&r.head).ends_with("Connection: close\r\n\r\n"));
        // HEAD and 204 have no body whatever the fields say.
        let head = request(b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n", ip).unwrap();
        let r = response(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", &head, "a").unwrap();
        assert_eq!(r.body, Framing::None);
        assert!(text(&r.head).contains("Content-Length: 9"));
    }

    #[test]
    fn own_pages_have_elbs_shape() {
        assert_eq!(elb_page(BAD_GATEWAY), BAD_GATEWAY_BODY);
    }

    /// A target that counts the requests it answered. axum reads a whole body before
    /// the handler runs, so a request counted here was forwarded whole.
    async fn counting_upstream() -> (SocketAddr, Arc<AtomicUsize>) {
        let answered = Arc::new(AtomicUsize::new(0));
        let count = answered.clone();
        let app = axum::Router::new().fallback(move |_: String| {
            let count = count.clone();
            async move {
                count.fetch_add(1, Ordering::SeqCst);
                "ok"
            }
        });
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        (addr, answered)
    }

    /// Sends `raw` on a new connection and reads until the proxy closes it (at most
    /// 5 s): everything it answered.
    async fn raw_exchange(alb: SocketAddr, raw: &[u8]) -> String {
        use tokio::io::AsyncReadExt;
        let mut c = TcpStream::connect(alb).await.unwrap();
        // The proxy may refuse before it has read everything: a failed write is fine.
        let _ = c.write_all(raw).await;
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
                Ok(_) => break,
                Err(_) => panic!("the connection was not closed: {}", text(&got)),
            }
        }
        text(&got)
    }

    #[tokio::test]
    async fn malformed_requests_get_400_or_501_and_a_close_and_never_reach_the_target() {
        let (up, answered) = counting_upstream().await;
        let alb = proxy_to(vec![up]).await;
        let post = |fields: &str, body: &str| {
            format!("POST / HTTP/1.1\r\nHost: x\r\n{fields}\r\n{body}").into_bytes()
        };
        let mut tls_hello = vec![
            0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
        ];
        tls_hello.extend_from_slice(&[0x5a; 64]);
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            (
                "chunked beside Content-Length",
                post(
                    "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n",
                    "3\r\nabc\r\n0\r\n\r\n",
                ),
                "400",
            ),
            (
                "Content-Length +5",
                post("Content-Length: +5\r\n", "hello"),
                "400",
            ),
            (
                "Content-Length -1",
                post("Content-Length: -1\r\n", ""),
                "400",
            ),
            (
                "Content-Length 5,6",
                post("Content-Length: 5,6\r\n", "hello"),
                "400",
            ),
            (
                "two differing Content-Length fields",
                post("Content-Length: 5\r\nContent-Length: 6\r\n", "hello"),
                "400",
            ),
            (
                "a Content-Length past u64",
                post("Content-Length: 18446744073709551616\r\n", ""),
                "400",
            ),
            (
                "Transfer-Encoding gzip",
                post("Transfer-Encoding: gzip\r\n", ""),
                "501",
            ),
            (
                "Transfer-Encoding identity",
                post("Transfer-Encoding: identity\r\n", ""),
                "501",
            ),
            (
                "Transfer-Encoding gzip, chunked",
                post("Transfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n"),
                "501",
            ),
            (
                "chunked not the final coding",
                post("Transfer-Encoding: chunked, gzip\r\n", "0\r\n\r\n"),
                "400",
            ),
            (
                "Transfer-Encoding in HTTP/1.0",
                b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(),
                "400",
            ),
            (
                "HTTP/1.1 without Host",
                b"GET / HTTP/1.1\r\n\r\n".to_vec(),
                "400",
            ),
            (
                "two Host fields",
                b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".to_vec(),
                "400",
            ),
            (
                "a 70 KiB header",
                format!(
                    "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
                    "b".repeat(70 * 1024)
                )
                .into_bytes(),
                "400",
            ),
            (
                "a 17 KiB request line",
                format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(17 * 1024)).into_bytes(),
                "400",
            ),
            (
                "101 header fields",
                format!(
                    "GET / HTTP/1.1\r\nHost: x\r\n{}\r\n",
                    "A: b\r\n".repeat(100)
                )
                .into_bytes(),
                "400",
            ),
            (
                "a 75 KiB head of 15 KiB fields",
                format!(
                    "GET / HTTP/1.1\r\nHost: x\r\n{}\r\n",
                    format!("X-F: {}\r\n", "f".repeat(15 * 1024)).repeat(5)
                )
                .into_bytes(),
                "400",
            ),
            ("a TLS ClientHello", tls_hello, "400"),
            (
                "random binary",
                vec![0x00, 0xff, 0x13, 0x37, 0x80, 0x7f, 0x01, 0xfe],
                "400",
            ),
            ("GARBAGE", b"GARBAGE\r\n\r\n".to_vec(), "400"),
            (
                "HTTP/2.0 on an HTTP/1 listener",
                b"GET / HTTP/2.0\r\nHost: x\r\n\r\n".to_vec(),
                "400",
            ),
            (
                "an obsolete line folding",
                b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  folded\r\n\r\n".to_vec(),
                "400",
            ),
            (
                "whitespace before a colon",
                b"GET / HTTP/1.1\r\nHost : x\r\n\r\n".to_vec(),
                "400",
            ),
            (
                "a chunk size that is not hex",
                post("Transfer-Encoding: chunked\r\n", "zz\r\nabc\r\n0\r\n\r\n"),
                "400",
            ),
            (
                "a chunk size with a sign",
                post("Transfer-Encoding: chunked\r\n", "+3\r\nabc\r\n0\r\n\r\n"),
                "400",
            ),
            (
                "a chunk size past u64",
                post(
                    "Transfer-Encoding: chunked\r\n",
                    "1ffffffffffffffff\r\nabc\r\n0\r\n\r\n",
                ),
                "400",
            ),
            (
                "chunk data without its CRLF",
                post("Transfer-Encoding: chunked\r\n", "3\r\nabcX0\r\n\r\n"),
                "400",
            ),
            (
                "a chunk line ended by a bare LF",
                post("Transfer-Encoding: chunked\r\n", "3\nabc\r\n0\r\n\r\n"),
                "400",
            ),
        ];
        for (what, raw, status) in cases {
            let got = raw_exchange(alb, &raw).await;
            assert!(
                got.starts_with(&format!("HTTP/1.1 {status} ")),
                "{what}: {got:?}"
            );
            assert!(got.contains("\r\nConnection: close\r\n"), "{what}: {got:?}");
            assert!(
                got.contains("\r\nServer: awselb/2.0\r\n"),
                "{what}: {got:?}"
            );
        }
        assert_eq!(
            answered.load(Ordering::SeqCst),
            0,
            "a refused request reached the target"
        );
        // The same proxy still forwards a good request.
        let got = raw_exchange(
            alb,
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert!(got.starts_with("HTTP/1.1 200 "), "{got}");
        assert_eq!(answered.load(Ordering::SeqCst), 1);
    }

    /// Limits with the deadlines shortened for tests.
    fn short(header: Duration, idle: Duration) -> AlbLimits {
        AlbLimits {
            header_timeout: header,
            idle_timeout: idle,
            ..AlbLimits::default()
        }
    }

    #[tokio::test]
    async fn clients_trickling_their_heads_are_closed_at_the_header_deadline_while_others_are_served()
     {
        let (up, _) = counting_upstream().await;
        let alb = proxy_with(
            vec![up],
            short(Duration::from_secs(1), Duration::from_secs(30)),
        )
        .await;
        // 50 clients, a byte every 200 ms: the whole head would take 8 s.
        let head = b"GET /slow HTTP/1.1\r\nHost: x\r\nX-Pad: 0123\r\n\r\n";
        let slow = slow_client::trickle_many(50, alb, head, Duration::from_millis(200));
        // Meanwhile a normal client is served, request after request.
        let mut c = Conn::new(TcpStream::connect(alb).await.unwrap());
        for _ in 0..15 {
            let (status, _, _) = ask(&mut c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
            assert_eq!(status, 200);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let closed = slow_client::assert_all_cut_at(slow, head.len(), Duration::from_secs(1)).await;
        assert!(closed.iter().all(|t| t.answer.is_empty()), "{closed:?}");
    }

    #[tokio::test]
    async fn idle_clients_are_closed_after_the_idle_timeout() {
        let (up, _) = counting_upstream().await;
        let alb = proxy_with(
            vec![up],
            short(Duration::from_secs(30), Duration::from_secs(1)),
        )
        .await;
        // Silent from the start, and silent after an answer.
        let silent = TcpStream::connect(alb).await.unwrap();
        let mut served = Conn::new(TcpStream::connect(alb).await.unwrap());
        assert_eq!(
            ask(&mut served, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .0,
            200
        );
        let started = Instant::now();
        let mut silent = Conn::new(silent);
        assert_eq!(silent.fill().await.unwrap(), 0);
        assert_eq!(served.fill().await.unwrap(), 0);
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn past_its_connection_bound_the_alb_answers_503_and_frees_slots_on_close() {
        let (up, _) = counting_upstream().await;
        let limits = AlbLimits {
            max_connections: 2,
            ..AlbLimits::default()
        };
        let alb = proxy_with(vec![up], limits).await;
        let mut a = Conn::new(TcpStream::connect(alb).await.unwrap());
        let mut b = Conn::new(TcpStream::connect(alb).await.unwrap());
        for c in [&mut a, &mut b] {
            assert_eq!(ask(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.0, 200);
        }
        let got = raw_exchange(alb, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(
            got.starts_with("HTTP/1.1 503 Service Temporarily Unavailable\r\n"),
            "{got}"
        );
        assert!(got.contains("\r\nConnection: close\r\n"), "{got}");
        drop(a);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let got = raw_exchange(
            alb,
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert!(got.starts_with("HTTP/1.1 200 "), "{got}");
    }

    #[tokio::test]
    async fn a_target_silent_for_the_idle_timeout_gets_a_504() {
        // Accepts and never answers.
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mute = l.local_addr().unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = l.accept().await {
                held.push(s);
            }
        });
        let alb = proxy_with(
            vec![mute],
            short(Duration::from_secs(30), Duration::from_secs(1)),
        )
        .await;
        let mut c = Conn::new(TcpStream::connect(alb).await.unwrap());
        let (status, f, body) = ask(&mut c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert_eq!((status, body), (504, elb_page(GATEWAY_TIMEOUT)));
        assert_eq!(f["server"], "awselb/2.0");
    }

    #[tokio::test]
    async fn past_the_client_keep_alive_duration_the_answer_closes_the_connection() {
        let (up, _) = counting_upstream().await;
        let limits = AlbLimits {
            client_keep_alive: Duration::ZERO,
            ..AlbLimits::default()
        };
        let alb = proxy_with(vec![up], limits).await;
        let mut c = Conn::new(TcpStream::connect(alb).await.unwrap());
        let (status, f, _) = ask(&mut c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert_eq!((status, f["connection"].as_str()), (200, "close"));
        assert_eq!(c.fill().await.unwrap(), 0);
    }
}
