//! How the data plane's listeners take connections under load: a listen backlog as deep
//! as the kernel allows, a bound on the connections open at once that sheds the excess
//! at once with a clean answer (never by leaving it unaccepted), a close that lets a
//! refused client read its answer, and as many open files as the process may have.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The listen backlog asked for. Linux caps it at `net.core.somaxconn` (4096 by
/// default since 5.4); tokio's `TcpListener::bind` asks for 1024, which 2,000 clients
/// connecting at once overflow: the kernel then drops their handshakes, and they wait
/// for SYN retransmissions (1 s, 3 s, 7 s...) before they are even accepted.
const BACKLOG: u32 = 4096;
/// How long a refused connection is read from (and the bytes dropped) after its answer,
/// so the client's unsent request does not turn the close into a reset that destroys
/// the answer before the client reads it (what nginx's lingering close is for).
pub(crate) const LINGER: Duration = Duration::from_secs(1);
/// At most this much is read while lingering.
pub(crate) const LINGER_BYTES: usize = 1 << 20;
/// How long writing a refusal may take.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// A listening socket on `addr` with SO_REUSEADDR (a restarted sandbox takes its
/// addresses back while old connections linger in TIME_WAIT) and a deep backlog.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// A bound on one listener's open connections.
#[derive(Clone)]
pub struct Gate(Arc<Semaphore>);

impl Gate {
    pub fn new(max: usize) -> Self {
        Gate(Arc::new(Semaphore::new(max.min(Semaphore::MAX_PERMITS))))
    }

    /// A slot for a new connection, held while it is open; None when every slot is taken.
    pub fn enter(&self) -> Option<OwnedSemaphorePermit> {
        self.0.clone().try_acquire_owned().ok()
    }
}

/// Writes `answer`, then closes the connection without losing it: the write side is
/// shut, and what the client still sends is read and dropped for at most [`LINGER`].
pub async fn answer_and_close(mut stream: TcpStream, answer: &[u8]) {
    let written = tokio::time::timeout(ANSWER_TIMEOUT, stream.write_all(answer)).await;
    if !matches!(written, Ok(Ok(()))) {
        return;
    }
    if stream.shutdown().await.is_err() {
        return;
    }
    let until = Instant::now() + LINGER;
    let mut sink = [0u8; 4096];
    let mut read = 0;
    while read < LINGER_BYTES {
        match tokio::time::timeout_at(until.into(), stream.read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => read += n,
            _ => break,
        }
    }
}

/// Raises this process's soft limit on open files to its hard limit: every proxied
/// connection holds two descriptors (three through an accelerator), and the usual soft
/// limit of 1024 would refuse connections long before the listeners' bounds.
pub fn raise_open_files_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the struct it is given, which lives here.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        tracing::warn!(error = %std::io::Error::last_os_error(), "reading the open files limit");
        return;
    }
    if lim.rlim_cur >= lim.rlim_max {
        return;
    }
    let before = lim.rlim_cur;
    lim.rlim_cur = lim.rlim_max;
    // SAFETY: setrlimit reads the struct it is given; raising the soft limit up to the
    // hard one needs no privilege.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        tracing::warn!(error = %std::io::Error::last_os_error(), "raising the open files limit");
    } else {
        tracing::debug!(
            from = before,
            to = lim.rlim_max,
            "raised the open files limit"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gate_holds_its_bound_and_frees_slots_on_close() {
        let gate = Gate::new(2);
        let a = gate.enter().unwrap();
        let _b = gate.enter().unwrap();
        assert!(gate.enter().is_none());
        drop(a);
        assert!(gate.enter().is_some());
    }

    #[tokio::test]
    async fn a_refusal_reaches_a_client_that_is_still_sending() {
        let l = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = l.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (s, _) = l.accept().await.unwrap();
            answer_and_close(s, b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n").await;
        });
        let mut c = TcpStream::connect(addr).await.unwrap();
        // 256 KiB the server never reads as a request: a plain close would reset.
        c.write_all(&vec![b'x'; 256 * 1024]).await.unwrap();
        let mut got = Vec::new();
        c.read_to_end(&mut got).await.unwrap();
        assert!(got.starts_with(b"HTTP/1.1 400 "), "{got:?}");
        server.await.unwrap();
    }
}
