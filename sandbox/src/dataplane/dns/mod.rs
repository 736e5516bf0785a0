//! The data plane's DNS server: UDP and TCP on one loopback port, answering the hosted
//! zones' records, alias records (to an accelerator's static IPs, an ALB's address or
//! another record) and the accelerator and ALB names, so `dig @127.0.0.1 -p <port>
//! multi-region.<domain>` resolves the way the public DNS would.
//!
//! The port is chosen at first start and kept in `dns.json`, so a resolver or a
//! person's notes pointed at it keep working across `down`/`up`. Answers are read from
//! the AWS state on every query (through a cache of at most [`STATE_TTL`]).
//!
//! Over TCP each query must arrive whole within RFC 7766's idle timeout, so a client
//! trickling its bytes is closed like an idle one, and the connections at once are
//! bounded ([`DnsLimits`](super::limits::DnsLimits)).

mod answer;
pub mod wire;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use super::Context;
use super::limits::DnsLimits;
use crate::aws::{Aws, AwsState};
use crate::persist;
use wire::{Rcode, WireError};

pub const DNS_FILE: &str = "dns.json";
/// Datagrams longer than this are dropped unread: no DNS query is that big.
pub const MAX_DATAGRAM: usize = 4096;
/// Classic DNS over UDP (RFC 1035 §4.2.1); longer answers are truncated (TC).
pub const UDP_LIMIT: usize = 512;
/// How stale an answer may be: the state is snapshotted at most this often.
pub const STATE_TTL: Duration = Duration::from_millis(100);
/// Tries to find a port free for both UDP and TCP at first start.
const PORT_TRIES: usize = 20;

/// What `dns.json` holds.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct DnsPort {
    port: u16,
}

/// Binds the DNS port (the kept one, or a new one saved to `dns.json`) and serves it
/// until `ctx.stop`. Returns `127.0.0.1:<port>` and the UDP and TCP tasks.
pub async fn start(ctx: Context) -> Result<(String, Vec<JoinHandle<()>>)> {
    let path = ctx.dir.join(DNS_FILE);
    let kept: Option<DnsPort> = persist::load(&path)?;
    let (udp, tcp) = match kept {
        Some(p) => bind_both(p.port).await.with_context(|| {
            format!(
                "binding the DNS server to 127.0.0.1:{} (UDP and TCP), the port this sandbox used before (kept in {}); is another sandbox running on it?",
                p.port,
                path.display()
            )
        })?,
        None => bind_new().await?,
    };
    let port = udp.local_addr()?.port();
    if kept.map(|p| p.port) != Some(port) {
        persist::save(&path, &DnsPort { port })?;
    }
    let server = Arc::new(Server {
        aws: ctx.aws.clone(),
        home_region: ctx.home_region.clone(),
        cache: Mutex::new(None),
    });
    let udp_task = tokio::spawn(serve_udp(server.clone(), udp, ctx.stop.clone()));
    let tcp_task = tokio::spawn(serve_tcp(
        server,
        tcp,
        ctx.limits.dns.clone(),
        ctx.stop.clone(),
    ));
    let addr = format!("127.0.0.1:{port}");
    tracing::info!(%addr, "DNS server listening (UDP and TCP)");
    Ok((addr, vec![udp_task, tcp_task]))
}

async fn bind_both(port: u16) -> std::io::Result<(UdpSocket, TcpListener)> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let udp = UdpSocket::bind(addr).await?;
    let port = udp.local_addr()?.port();
    let tcp = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
    Ok((udp, tcp))
}

/// A fresh port free for both protocols: UDP picks one, TCP must get the same, and
/// another pick is tried when something already holds it for TCP.
async fn bind_new() -> Result<(UdpSocket, TcpListener)> {
    let mut last = None;
    for _ in 0..PORT_TRIES {
        match bind_both(0).await {
            Ok(pair) => return Ok(pair),
            Err(e) => last = Some(e),
        }
    }
    Err(anyhow::anyhow!(
        "binding the DNS server to a loopback port free for both UDP and TCP: {}",
        last.map(|e| e.to_string()).unwrap_or_default()
    ))
}

/// What both protocols share: where answers come from.
struct Server {
    aws: Arc<Aws>,
    home_region: String,
    cache: Mutex<Option<(Instant, Arc<AwsState>)>>,
}

impl Server {
    /// The AWS state, at most [`STATE_TTL`] old: a burst of queries (a resolver's
    /// retries, a test's parallel digs) costs one copy.
    fn state(&self) -> Arc<AwsState> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, state)) = cache.as_ref()
            && at.elapsed() < STATE_TTL
        {
            return state.clone();
        }
        let state = Arc::new(self.aws.snapshot());
        *cache = Some((Instant::now(), state.clone()));
        state
    }

    /// The response to one packet, at most `limit` bytes; `None` when it gets none
    /// (no header, or itself a response).
    fn respond(&self, packet: &[u8], limit: usize) -> Option<Vec<u8>> {
        let header = wire::parse_header(packet)?;
        if header.opcode != 0 {
            return Some(wire::write_error(header, Rcode::NotImp));
        }
        let query = match wire::parse_query(packet) {
            Ok(q) => q,
            Err(e) => {
                tracing::debug!(error = %e, "DNS: a malformed query");
                let rcode = match e {
                    WireError::NotAQuery => return None,
                    _ => Rcode::FormErr,
                };
                return Some(wire::write_error(header, rcode));
            }
        };
        let answer = answer::answer(&self.state(), &query.question, &self.home_region);
        Some(wire::write_response(&query, &answer, limit))
    }
}

async fn serve_udp(server: Arc<Server>, socket: UdpSocket, mut stop: watch::Receiver<bool>) {
    // One byte more than the limit, so an oversized datagram is recognized.
    let mut buf = vec![0u8; MAX_DATAGRAM + 1];
    loop {
        let (n, peer) = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            r = socket.recv_from(&mut buf) => match r {
                Ok(r) => r,
                Err(e) => {
                    // An ICMP error from an earlier reply can surface here; keep serving.
                    tracing::debug!(error = %e, "DNS: receiving a datagram failed");
                    continue;
                }
            },
        };
        if n > MAX_DATAGRAM {
            continue;
        }
        if let Some(out) = server.respond(&buf[..n], UDP_LIMIT)
            && let Err(e) = socket.send_to(&out, peer).await
        {
            tracing::debug!(%peer, error = %e, "DNS: sending an answer failed");
        }
    }
}

async fn serve_tcp(
    server: Arc<Server>,
    listener: TcpListener,
    limits: DnsLimits,
    mut stop: watch::Receiver<bool>,
) {
    // Dropping the set (this task ending or being aborted) ends every connection.
    let mut conns = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            r = listener.accept() => r,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::error!(error = %e, "DNS: accepting a TCP connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if conns.len() >= limits.max_tcp_connections {
            tracing::warn!(%peer, "DNS: too many TCP connections; closing a new one");
            continue;
        }
        let server = server.clone();
        let idle = limits.tcp_idle_timeout;
        let mut stop = stop.clone();
        conns.spawn(async move {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => {}
                r = serve_connection(&server, stream, idle) => {
                    if let Err(e) = r {
                        tracing::debug!(%peer, error = %e, "DNS: a TCP connection ended");
                    }
                }
            }
        });
    }
}

/// Serves length-prefixed queries (RFC 1035 §4.2.2) until the client closes, sends
/// something unanswerable, or lets `idle` pass without a whole query: the deadline
/// covers the query, not each read, or a byte at a time would keep it open forever.
async fn serve_connection(
    server: &Server,
    mut stream: TcpStream,
    idle: Duration,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let n = match tokio::time::timeout(idle, read_query(&mut stream, &mut buf)).await {
            Err(_) => return Ok(()),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Ok(r) => r?,
        };
        let Some(n) = n else {
            return Ok(());
        };
        let Some(out) = server.respond(&buf[..n], u16::MAX as usize) else {
            return Ok(());
        };
        let mut framed = Vec::with_capacity(out.len() + 2);
        framed.extend_from_slice(&(out.len() as u16).to_be_bytes());
        framed.extend_from_slice(&out);
        tokio::time::timeout(idle, stream.write_all(&framed))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    }
}

/// Reads one length-prefixed query into `buf`; its length, None when it is longer than
/// any query.
async fn read_query(stream: &mut TcpStream, buf: &mut [u8]) -> std::io::Result<Option<usize>> {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await?;
    let n = u16::from_be_bytes(len) as usize;
    if n > buf.len() {
        return Ok(None);
    }
    stream.read_exact(&mut buf[..n]).await?;
    Ok(Some(n))
}

/// The port a sandbox's DNS server uses, if it has started once (for `status`).
pub fn kept_port(dir: &Path) -> Result<Option<u16>> {
    Ok(persist::load::<DnsPort>(&dir.join(DNS_FILE))?.map(|p| p.port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::AwsSettings;

    fn context(dir: &Path) -> (Context, watch::Sender<bool>) {
        let aws = Aws::open(AwsSettings {
            account_id: "000000000000".into(),
            access_key_id: "k".into(),
            secret_access_key: "s".into(),
            transition_delay_ms: 0,
            state_path: dir.join("aws.json"),
            net: None,
        })
        .unwrap();
        let (tx, rx) = watch::channel(false);
        let ctx = Context {
            aws,
            clusters: Vec::new(),
            dir: dir.to_path_buf(),
            net: crate::dataplane::NetBlock { a: 150, b: 1 },
            home_region: "us-east-1".into(),
            limits: Default::default(),
            stop: rx,
        };
        (ctx, tx)
    }

    /// A query for `name` (A), as bytes.
    fn query(id: u16, name: &str) -> Vec<u8> {
        let mut b = id.to_be_bytes().to_vec();
        b.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        for l in wire::labels(name).unwrap() {
            b.push(l.len() as u8);
            b.extend_from_slice(&l);
        }
        b.extend_from_slice(&[0, 0, 1, 0, 1]);
        b
    }

    #[tokio::test]
    async fn serves_udp_and_tcp_keeps_its_port_and_names_it_when_taken() {
        let dir = tempfile::tempdir().unwrap();
        let (ctx, stop) = context(dir.path());
        let (addr, tasks) = start(ctx.clone()).await.unwrap();
        let port = kept_port(dir.path()).unwrap().unwrap();
        assert_eq!(addr, format!("127.0.0.1:{port}"));

        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        client
            .send_to(&query(0x1234, "x.example.org."), &addr)
            .await
            .unwrap();
        let mut buf = [0u8; 512];
        let n = tokio::time::timeout(Duration::from_secs(5), client.recv(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&buf[..2], &[0x12, 0x34]);
        assert_eq!(buf[3] & 0x0f, Rcode::Refused as u8);
        // Garbage gets FORMERR, a response gets nothing; the server keeps serving.
        client
            .send_to(&[0, 9, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0], &addr)
            .await
            .unwrap();
        let n2 = client.recv(&mut buf).await.unwrap();
        assert_eq!((n2, buf[3] & 0x0f), (12, Rcode::FormErr as u8));
        assert!(n > 12);

        // Two queries on one TCP connection.
        let mut tcp = TcpStream::connect(&addr).await.unwrap();
        for id in [1u16, 2] {
            let q = query(id, "x.example.org.");
            tcp.write_all(&(q.len() as u16).to_be_bytes())
                .await
                .unwrap();
            tcp.write_all(&q).await.unwrap();
            let mut len = [0u8; 2];
            tcp.read_exact(&mut len).await.unwrap();
            let mut out = vec![0u8; u16::from_be_bytes(len) as usize];
            tcp.read_exact(&mut out).await.unwrap();
            assert_eq!(u16::from_be_bytes([out[0], out[1]]), id);
        }

        // The kept port is busy: the error names it and the file.
        stop.send(true).unwrap();
        for t in tasks {
            t.await.unwrap();
        }
        drop(tcp);
        let squatter = UdpSocket::bind(("127.0.0.1", port)).await.unwrap();
        let (ctx2, _stop2) = context(dir.path());
        let err = format!("{:#}", start(ctx2).await.unwrap_err());
        assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
        assert!(err.contains(DNS_FILE), "{err}");
        drop(squatter);
        let (ctx3, _stop3) = context(dir.path());
        let (again, _tasks) = start(ctx3).await.unwrap();
        assert_eq!(again, addr);
    }
}
