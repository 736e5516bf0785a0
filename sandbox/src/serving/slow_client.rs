//! A slow client, for the slow-client tests of every listener (unit tests here and the
//! integration tests under `tests/`), not an API: it sends its bytes one at a time with
//! a pause between them, as a slowloris attack does, and reports when the server closed.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a slow client waits for the server to close before it gives up.
const GIVE_UP: Duration = Duration::from_secs(30);

/// What one slow client saw.
#[derive(Debug)]
pub struct Trickled {
    /// From the connect to the server's close; None if it never closed.
    pub closed_after: Option<Duration>,
    /// The bytes it sent before the close.
    pub sent: usize,
    /// What the server said.
    pub answer: Vec<u8>,
}

/// Connects to `addr` and sends `bytes` one at a time, `every` apart, until the server
/// closes the connection or all are sent; then waits for the close.
pub async fn trickle(addr: SocketAddr, bytes: Vec<u8>, every: Duration) -> Trickled {
    trickle_after(addr, Vec::new(), bytes, every).await
}

/// Like [`trickle`], after sending `prefix` at once (a whole head, to trickle a body).
pub async fn trickle_after(
    addr: SocketAddr,
    prefix: Vec<u8>,
    bytes: Vec<u8>,
    every: Duration,
) -> Trickled {
    let started = Instant::now();
    let (mut r, mut w) = TcpStream::connect(addr)
        .await
        .expect("connecting the slow client")
        .into_split();
    w.write_all(&prefix)
        .await
        .expect("sending the slow client's prefix");
    let reader = tokio::spawn(async move {
        let mut answer = Vec::new();
        let read = tokio::time::timeout(GIVE_UP, r.read_to_end(&mut answer)).await;
        (read.is_ok().then(|| started.elapsed()), answer)
    });
    let mut sent = prefix.len();
    for b in bytes {
        if reader.is_finished() || w.write_all(&[b]).await.is_err() {
            break;
        }
        sent += 1;
        tokio::time::sleep(every).await;
    }
    let (closed_after, answer) = reader.await.expect("the slow client's reader");
    Trickled {
        closed_after,
        sent,
        answer,
    }
}

/// `n` slow clients at once, each sending `bytes`.
pub fn trickle_many(
    n: usize,
    addr: SocketAddr,
    bytes: &[u8],
    every: Duration,
) -> Vec<tokio::task::JoinHandle<Trickled>> {
    (0..n)
        .map(|_| tokio::spawn(trickle(addr, bytes.to_vec(), every)))
        .collect()
}

/// Waits for `clients` and checks each was closed by the server between `at_least` and
/// `within` after it connected, and before it could send all its bytes.
pub async fn assert_all_closed(
    clients: Vec<tokio::task::JoinHandle<Trickled>>,
    total: usize,
    at_least: Duration,
    within: Duration,
) -> Vec<Trickled> {
    let mut seen = Vec::new();
    for c in clients {
        let t = c.await.expect("a slow client");
        let after = t
            .closed_after
            .unwrap_or_else(|| panic!("a slow client was never closed: {t:?}"));
        assert!(
            after >= at_least && after < within,
            "a slow client was closed after {after:?}, not within {at_least:?}..{within:?}"
        );
        assert!(t.sent < total, "a slow client sent everything: {t:?}");
        seen.push(t);
    }
    seen
}

/// [`assert_all_closed`] for clients a listener must cut at its `timeout`: between a
/// tenth under it (timers round) and four times it (a loaded machine).
pub async fn assert_all_cut_at(
    clients: Vec<tokio::task::JoinHandle<Trickled>>,
    total: usize,
    timeout: Duration,
) -> Vec<Trickled> {
    assert_all_closed(clients, total, timeout - timeout / 10, timeout * 4).await
}
