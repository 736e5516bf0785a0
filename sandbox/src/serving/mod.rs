//! How the sandbox's API listeners (the AWS endpoint and each cluster's Kubernetes API)
//! serve HTTP/1.1: hyper behind a [guard](guard) that checks every request head as the
//! RFCs require and times out clients that trickle them, with the timeouts, header
//! limits and connection bound of the server each listener emulates ([`Limits`]).
//! Every connection carries a [`Conn`](crate::faults::conn::Conn), so a fault can cut it.

pub mod body;
pub mod guard;
pub mod head;
pub mod listen;
#[doc(hidden)]
pub mod slow_client;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::dataplane::http1::HeadLimits;
use crate::faults::conn::CuttableStream;
use head::{HeadRules, Refusal};
use listen::Gate;

/// What a listener allows a client, as the server it emulates does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// From a request head's first byte to its end.
    pub header_timeout: Duration,
    /// From the end of a head to the end of its body.
    pub body_timeout: Duration,
    /// How long a kept-alive connection may wait for its next request (or a new
    /// connection for its first) before it is closed.
    pub idle_timeout: Duration,
    pub head: HeadRules,
    /// Connections served at once; more are answered 503 and closed.
    pub max_connections: usize,
}

impl Limits {
    /// kube-apiserver's (k8s.io/apiserver `secure_serving.go`): `ReadHeaderTimeout`
    /// 32 s, `IdleTimeout` 90 s, `MaxHeaderBytes` 1 MiB (Go's net/http allows 4 KiB
    /// more, then answers 431); a request body must arrive within `--request-timeout`
    /// (1 minute). Go has no limit of its own on lines or header counts; 1,000 headers
    /// is ours, far above what any client sends.
    pub fn kube() -> Self {
        Limits {
            header_timeout: Duration::from_secs(32),
            body_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(90),
            head: HeadRules {
                limits: HeadLimits {
                    start_line: (1 << 20) + 4096,
                    field_line: (1 << 20) + 4096,
                    total: (1 << 20) + 4096,
                    fields: 1000,
                },
                oversize_status: 431,
            },
            max_connections: 4096,
        }
    }

    /// The AWS endpoint's. AWS documents no timeouts or header limits for its API
    /// endpoints; the sandbox uses those of the load balancer AWS documents, the ALB:
    /// 60 s idle timeout (its default), the request line and a single header at most
    /// 16 KiB, the whole head 64 KiB, answered 400 beyond; 100 headers (hyper's bound)
    /// and 60 s deadlines for a head and for a body are ours.
    pub fn aws() -> Self {
        Limits {
            header_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(60),
            head: HeadRules {
                limits: crate::dataplane::http1::REQUEST_LIMITS,
                oversize_status: 400,
            },
            max_connections: 4096,
        }
    }

    /// These limits with their timeouts replaced (tests shorten them).
    pub fn with_timeouts(mut self, t: Option<Timeouts>) -> Self {
        if let Some(t) = t {
            self.header_timeout = t.header;
            self.body_timeout = t.body;
            self.idle_timeout = t.idle;
        }
        self
    }
}

/// Timeouts that replace every API listener's own (see `SandboxConfig::api_timeouts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub header: Duration,
    pub body: Duration,
    pub idle: Duration,
}

/// How long a stopping listener lets its connections finish their requests.
const DRAIN_ON_STOP: Duration = Duration::from_secs(5);

/// Serves `router` on `listener` under `limits` until `shutdown` completes, then lets
/// open connections finish their current request (for a few seconds at most).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let limits = Arc::new(limits);
    let slots = Gate::new(limits.max_connections);
    let (stopping, stop) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    match slots.enter() {
                        Some(slot) => {
                            let (router, limits, stop) = (router.clone(), limits.clone(), stop.clone());
                            connections.spawn(async move {
                                connection(stream, peer, router, limits, stop).await;
                                drop(slot);
                            });
                        }
                        None => {
                            connections.spawn(async move { listen::answer_and_close(stream, &busy()).await });
                        }
                    }
                }
                Err(e) if is_connection_error(&e) => {}
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::error!("accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    let _ = stopping.send(true);
    let _ = tokio::time::timeout(DRAIN_ON_STOP, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
}

/// Serves one connection: hyper's HTTP/1.1 behind the guard.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: Arc<Limits>,
    mut stop: watch::Receiver<bool>,
) {
    let stream = CuttableStream::new(stream);
    let conn = stream.conn();
    let io = TokioIo::new(guard::Guarded::new(stream, limits.clone()));
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        let refused = guard::refusal_of(&req);
        req.extensions_mut().insert(ConnectInfo(conn.clone()));
        let router = router.clone();
        async move {
            match refused {
                Some((status, reason)) => Ok(Refusal::response(status, &reason)),
                None => router.oneshot(req).await,
            }
        }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        // hyper's timer runs from when it waits for a head until the head is read:
        // the idle timeout (the guard's own deadline bounds the head itself).
        .header_read_timeout(limits.idle_timeout)
        .max_headers(limits.head.limits.fields)
        .max_buf_size(limits.head.limits.total.max(8192) + (64 << 10));
    let served = http.serve_connection(io, service).with_upgrades();
    tokio::pin!(served);
    let result = tokio::select! {
        r = served.as_mut() => r,
        () = async { let _ = stop.wait_for(|s| *s).await; } => {
            served.as_mut().graceful_shutdown();
            served.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// What a connection over the bound is answered before it is closed.
fn busy() -> Vec<u8> {
    const BODY: &str = "503 Service Unavailable: too many connections";
    format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n{BODY}",
        BODY.len()
    )
    .into_bytes()
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::{get, post};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn limits(max_connections: usize) -> Limits {
        Limits {
            max_connections,
            ..Limits::aws().with_timeouts(Some(Timeouts {
                header: Duration::from_millis(500),
                body: Duration::from_millis(500),
                idle: Duration::from_secs(2),
            }))
        }
    }

    /// A server echoing request bodies, and its address.
    async fn start(limits: Limits) -> SocketAddr {
        let router = Router::new()
            .route("/", get(|| async { "hello" }))
            .route("/echo", post(|body: String| async move { body }));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(listener, router, limits, std::future::pending()));
        addr
    }

    /// Sends `bytes` and reads until the server closes (or 5 s pass).
    async fn exchange(addr: SocketAddr, bytes: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(bytes).await.unwrap();
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
        String::from_utf8_lossy(&out).into_owned()
    }

    fn statuses(replies: &str) -> Vec<&str> {
        replies
            .match_indices("HTTP/1.1 ")
            .map(|(i, _)| &replies[i + 9..i + 12])
            .collect()
    }

    #[tokio::test]
    async fn pipelined_requests_are_checked_one_by_one() {
        let addr = start(limits(16)).await;
        // A chunked body (with an extension and a trailer), a sized one, then a head
        // that must be refused: the first two are served, the third answered 400.
        let replies = exchange(
            addr,
            b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
              5;ext=1\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n\
              POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nworld\
              GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        )
        .await;
        assert_eq!(statuses(&replies), ["200", "200", "400"], "{replies}");
        assert!(
            replies.contains("hello") && replies.contains("world"),
            "{replies}"
        );
        assert!(
            replies.contains("both Transfer-Encoding and Content-Length"),
            "{replies}"
        );
    }

    #[tokio::test]
    async fn a_body_that_smuggles_a_head_is_only_a_body() {
        let addr = start(limits(16)).await;
        // The "inner" request is the body's bytes, never served as a request.
        let inner = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        let replies = exchange(
            addr,
            format!(
                "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{inner}",
                inner.len()
            )
            .as_bytes(),
        )
        .await;
        assert_eq!(statuses(&replies), ["200"], "{replies}");
        assert!(
            replies.ends_with(inner) && !replies.contains("hello"),
            "{replies}"
        );
    }

    #[tokio::test]
    async fn connections_over_the_bound_are_answered_503() {
        let addr = start(limits(2)).await;
        let mut held = Vec::new();
        for _ in 0..2 {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .unwrap();
            let mut buf = [0u8; 12];
            s.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"HTTP/1.1 200");
            held.push(s);
        }
        let third = exchange(addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(third.starts_with("HTTP/1.1 503 "), "{third}");
        drop(held);
        // The slots come back once those connections are gone.
        let mut again = String::new();
        for _ in 0..50 {
            again = exchange(
                addr,
                b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            )
            .await;
            if again.starts_with("HTTP/1.1 200") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(again.starts_with("HTTP/1.1 200"), "{again}");
    }

    #[tokio::test]
    async fn a_trickled_head_is_cut_and_an_idle_connection_closed() {
        let addr = start(limits(64)).await;
        let head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        let slow = slow_client::trickle_many(20, addr, head, Duration::from_millis(100));
        // While they trickle, a normal client is served.
        let served = exchange(
            addr,
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert!(served.starts_with("HTTP/1.1 200"), "{served}");
        let closed = slow_client::assert_all_closed(
            slow,
            head.len(),
            Duration::from_millis(400),
            Duration::from_secs(3),
        )
        .await;
        assert!(
            closed.iter().all(|t| t.answer.is_empty()),
            "a trickled head was answered"
        );
        // Idle: connected and silent, closed by the idle timeout with no answer.
        let started = tokio::time::Instant::now();
        let silent = exchange(addr, b"").await;
        assert_eq!(silent, "");
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(1500) && waited < Duration::from_millis(4500),
            "{waited:?}"
        );
    }
}
