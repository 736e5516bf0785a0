//! Every API listener of a running sandbox (the AWS endpoint and each cluster's
//! Kubernetes API) on raw sockets: request framing RFC 9112 makes an error is refused
//! with the emulated server's status and the connection closed, and a client that
//! trickles its head or its body is cut at the deadline while other clients are served.

use std::time::{Duration, Instant};

use runner_sandbox::serving::{Timeouts, slow_client};
use runner_sandbox::{Endpoints, Sandbox, SandboxHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support;

const HEADER_TIMEOUT: Duration = Duration::from_secs(1);
const IDLE_TIMEOUT: Duration = Duration::from_secs(4);

async fn start(dir: &std::path::Path) -> SandboxHandle {
    let mut cfg = support::config(dir);
    cfg.api_timeouts = Some(Timeouts {
        header: HEADER_TIMEOUT,
        body: HEADER_TIMEOUT,
        idle: IDLE_TIMEOUT,
    });
    tokio::time::timeout(Duration::from_secs(30), Sandbox::start(cfg))
        .await
        .expect("sandbox start timed out")
        .expect("sandbox start failed")
}

/// `host:port` of every API listener, the AWS endpoint first.
fn listeners(ep: &Endpoints) -> Vec<String> {
    std::iter::once(&ep.aws)
        .chain(ep.clusters.iter().map(|c| &c.url))
        .map(|u| u.strip_prefix("http://").unwrap().to_string())
        .collect()
}

/// Sends `bytes` on a fresh connection; the answer's status (0: none) and whether the
/// server then closed the connection.
async fn exchange(addr: &str, bytes: &[u8]) -> (u16, bool) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let _ = s.write_all(bytes).await;
    let mut out = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .is_ok();
    let text = String::from_utf8_lossy(&out);
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, closed)
}

#[tokio::test]
async fn every_api_listener_refuses_framing_errors_and_closes() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = start(dir.path()).await;
    let ep = sandbox.endpoints().clone();
    let header = |kib: usize| {
        format!(
            "GET /version HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            "a".repeat(kib << 10)
        )
        .into_bytes()
    };
    let common: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "Transfer-Encoding and Content-Length",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(),
            400,
        ),
        (
            "Content-Length with a sign",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello".to_vec(),
            400,
        ),
        (
            "two different Content-Lengths",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!".to_vec(),
            400,
        ),
        (
            "an unknown transfer coding",
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nhello".to_vec(),
            501,
        ),
        (
            "HTTP/1.1 without Host",
            b"GET /version HTTP/1.1\r\n\r\n".to_vec(),
            400,
        ),
        (
            "two Hosts",
            b"GET /version HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".to_vec(),
            400,
        ),
        (
            "a malformed Host",
            b"GET /version HTTP/1.1\r\nHost: a b\r\n\r\n".to_vec(),
            400,
        ),
        (
            "an unknown expectation",
            b"GET /version HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\n\r\n".to_vec(),
            417,
        ),
        ("bytes that are not HTTP", b"GARBAGE\r\n\r\n".to_vec(), 400),
        (
            "a TLS client hello",
            vec![0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03],
            400,
        ),
        (
            "a folded header",
            b"GET /version HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n".to_vec(),
            400,
        ),
    ];
    for (i, addr) in listeners(&ep).iter().enumerate() {
        let aws = i == 0;
        let mut cases = common.clone();
        if aws {
            // The ALB's documented limits: 16 KiB for one header, 64 KiB in all: 400.
            cases.push(("a 17 KiB header", header(17), 400));
            cases.push(("a 70 KiB header", header(70), 400));
        } else {
            // kube-apiserver's: 1 MiB of headers (Go allows 4 KiB more), then 431.
            cases.push(("a 1.1 MiB header", header(1100), 431));
        }
        for (name, bytes, want) in cases {
            let (status, closed) = exchange(addr, &bytes).await;
            assert_eq!(status, want, "{addr} {name}");
            assert!(closed, "{addr} {name}: the connection stayed open");
        }
    }
    // A 70 KiB header is within kube-apiserver's limits: served.
    for c in &ep.clusters {
        let addr = c.url.strip_prefix("http://").unwrap();
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(&header(70)).await.unwrap();
        let mut first = [0u8; 12];
        s.read_exact(&mut first).await.unwrap();
        assert_eq!(&first, b"HTTP/1.1 200", "{addr}");
    }
    // And every listener still serves.
    support::assert_still_answers(&ep).await;
    sandbox.shutdown().await.unwrap();
}

#[tokio::test]
async fn trickled_requests_are_cut_at_the_deadline_while_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = start(dir.path()).await;
    let ep = sandbox.endpoints().clone();
    let every = Duration::from_millis(200);
    let head = b"GET /version HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let body_head = b"POST /api/v1/namespaces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n";
    for addr in listeners(&ep) {
        let at: std::net::SocketAddr = addr.parse().unwrap();
        // Fifty clients trickle a head, ten a body after a complete head.
        let heads = slow_client::trickle_many(50, at, head, every);
        let bodies: Vec<_> = (0..10)
            .map(|_| {
                tokio::spawn(slow_client::trickle_after(
                    at,
                    body_head.to_vec(),
                    vec![b'{'; 50],
                    every,
                ))
            })
            .collect();
        // While they trickle, a normal client is served.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (status, _) = exchange(
            &addr,
            b"GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        let want = if addr == ep.aws.strip_prefix("http://").unwrap() {
            403 // unsigned, but answered
        } else {
            200
        };
        assert_eq!(status, want, "{addr}");
        let within = HEADER_TIMEOUT * 4;
        let cut = slow_client::assert_all_closed(heads, head.len(), HEADER_TIMEOUT, within).await;
        assert!(
            cut.iter().all(|t| t.answer.is_empty()),
            "{addr} answered an unfinished head"
        );
        slow_client::assert_all_closed(bodies, body_head.len() + 50, HEADER_TIMEOUT, within).await;
        // A connection that sends nothing is closed at the idle timeout, unanswered.
        let started = Instant::now();
        let (status, closed) = exchange(&addr, b"").await;
        let waited = started.elapsed();
        assert_eq!((status, closed), (0, true), "{addr}");
        assert!(
            waited >= IDLE_TIMEOUT - Duration::from_millis(100),
            "{addr}: {waited:?}"
        );
    }
    sandbox.shutdown().await.unwrap();
}
