//! The probe's HTTP/1.1 client: one request over a fresh connection, bounded in time
//! and in what it reads. It knows nothing of wasm or grants, so it can be tested
//! against a local server.

use std::fmt;
use std::net::{Ipv6Addr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::Uri;
use hyper::body::{Body, Bytes, Incoming};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Used when the caller gives no timeout: long enough for a slow TLS handshake, short
/// enough that a dead host does not hold the step.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
pub const MAX_TIMEOUT: Duration = Duration::from_secs(60);
pub const MAX_BODY: usize = 64 << 10;
pub const MAX_REQUEST_HEADERS: usize = 32;
/// Per header, name and value together; also the cut for response header values.
pub const MAX_HEADER: usize = 8 << 10;
pub const MAX_RESPONSE_HEADERS: usize = 64;
pub const MAX_URL: usize = 8 << 10;
/// Past this many addresses a dead name would spend the whole deadline on one connect
/// after another anyway.
const MAX_ADDRESSES: usize = 16;

const USER_AGENT: &str = concat!("runner-probe/", env!("CARGO_PKG_VERSION"));

/// Headers that describe the connection or a request body. The client owns those: a
/// caller's `content-length` on a GET would have the server wait for a body that never
/// comes.
const RESERVED: &[&str] = &[
    "connection",
    "content-length",
    "expect",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
}

impl Method {
    fn http(self) -> hyper::Method {
        match self {
            Method::Get => hyper::Method::GET,
            Method::Head => hyper::Method::HEAD,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
        })
    }
}

/// Why a probe got no response, in the contract's terms; every message names the
/// request (`GET http://…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    Invalid(String),
    Unavailable(String),
    Timeout(String),
    Internal(String),
}

/// A parsed probe URL: what to resolve, what to connect to, and what to ask for.
#[derive(Debug, Clone)]
pub struct Target {
    /// The request as errors name it: method and URL.
    what: String,
    /// Lowercase name or IP address, IPv6 without brackets: what grants match and DNS
    /// resolves.
    pub host: String,
    pub port: u16,
    /// Set for `https`: the name the certificate must be for.
    server_name: Option<ServerName<'static>>,
    /// `host[:port]` as written, for the `Host` header.
    authority: String,
    /// Origin-form request target, e.g. `/healthz?deep=1`.
    path: Uri,
}

impl Target {
    /// Checks everything that can be checked without the network, so a bad URL is
    /// `invalid` before any grant check or connection.
    pub fn parse(method: Method, url: &str) -> Result<Self, Failure> {
        if url.len() > MAX_URL {
            return Err(Failure::Invalid(format!(
                "{method} of a {}-byte URL: at most {MAX_URL} bytes",
                url.len()
            )));
        }
        let what = format!("{method} {url}");
        let bad = |why: String| Failure::Invalid(format!("{what}: {why}"));
        // The scheme first: "example.com/x" or "ftp://..." deserve a plainer word than
        // the URI parser's.
        let https = match url.split_once("://").map(|(scheme, _)| scheme) {
            Some(s) if s.eq_ignore_ascii_case("http") => false,
            Some(s) if s.eq_ignore_ascii_case("https") => true,
            Some(s) if !s.is_empty() && !s.contains(['/', '?', '#']) => {
                return Err(bad(format!("scheme `{s}` is not http or https")));
            }
            _ => return Err(bad("the URL must start with http:// or https://".into())),
        };
        let uri: Uri = url
            .parse()
            .map_err(|e| bad(format!("not a valid URL ({e})")))?;
        let authority = uri
            .authority()
            .ok_or_else(|| bad("the URL has no host".into()))?;
        if authority.as_str().contains('@') {
            return Err(bad(
                "credentials in the URL are not supported; send an `authorization` header".into(),
            ));
        }
        let written = authority.host();
        let host = match written.strip_prefix('[') {
            Some(rest) => {
                let inner = rest.strip_suffix(']').unwrap_or(rest);
                inner
                    .parse::<Ipv6Addr>()
                    .map_err(|_| bad(format!("`{written}` is not an IPv6 address")))?
                    .to_string()
            }
            None => written.to_ascii_lowercase(),
        };
        if host.is_empty() {
            return Err(bad("the URL has no host".into()));
        }
        let port = match authority.port_u16() {
            Some(0) => return Err(bad("port 0 cannot be probed".into())),
            Some(p) => p,
            None if authority.as_str().ends_with(':') => {
                return Err(bad("the URL has an empty port".into()));
            }
            None if https => 443,
            None => 80,
        };
        let server_name = if https {
            Some(
                ServerName::try_from(host.clone())
                    .map_err(|_| bad(format!("`{host}` is not a name TLS can verify")))?,
            )
        } else {
            None
        };
        let path = match uri.path_and_query() {
            Some(pq) if pq.as_str().starts_with('/') => pq.as_str().to_owned(),
            Some(pq) => format!("/{}", pq.as_str()),
            None => "/".to_owned(),
        };
        let path: Uri = path.parse().map_err(|e| bad(format!("bad path ({e})")))?;
        Ok(Target {
            what,
            host,
            port,
            server_name,
            authority: authority.as_str().to_owned(),
            path,
        })
    }
}

/// How to send one probe, with the caller's values already bounded.
#[derive(Debug, Clone)]
pub struct Probe {
    pub method: Method,
    pub timeout: Duration,
    pub max_body: usize,
    pub headers: HeaderMap,
    /// A DNS server to ask first (the sandbox's), before the system's resolver.
    pub resolver: Option<SocketAddr>,
}

/// The contract's `timeout-ms`: 0 is the default, and no probe holds a step past a minute.
pub fn deadline(timeout_ms: u32) -> Duration {
    match timeout_ms {
        0 => DEFAULT_TIMEOUT,
        ms => Duration::from_millis(u64::from(ms)).min(MAX_TIMEOUT),
    }
}

/// The contract's `max-body`, capped so a probe cannot pull a large download into memory.
pub fn body_limit(max_body: u32) -> usize {
    usize::try_from(max_body)
        .unwrap_or(usize::MAX)
        .min(MAX_BODY)
}

/// The request's headers: the caller's, checked and bounded, then `host` and
/// `user-agent` unless the caller set them (a `host` of its own reaches a virtual host
/// by address).
pub fn request_headers(target: &Target, pairs: &[(String, String)]) -> Result<HeaderMap, Failure> {
    let what = &target.what;
    if pairs.len() > MAX_REQUEST_HEADERS {
        return Err(Failure::Invalid(format!(
            "{what}: {} request headers, at most {MAX_REQUEST_HEADERS}",
            pairs.len()
        )));
    }
    let mut headers = HeaderMap::with_capacity(pairs.len() + 2);
    for (name, value) in pairs {
        let shown: String = name.chars().take(64).collect();
        if name.len() + value.len() > MAX_HEADER {
            return Err(Failure::Invalid(format!(
                "{what}: header `{shown}` is over {MAX_HEADER} bytes"
            )));
        }
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Failure::Invalid(format!("{what}: `{shown}` is not a header name")))?;
        if RESERVED.contains(&name.as_str()) {
            return Err(Failure::Invalid(format!(
                "{what}: header `{name}` is set by the probe itself"
            )));
        }
        // The value is not echoed: it may be a credential.
        let value = HeaderValue::from_str(value).map_err(|_| {
            Failure::Invalid(format!(
                "{what}: the value of header `{name}` has characters a header cannot carry"
            ))
        })?;
        headers.append(name, value);
    }
    if !headers.contains_key(header::HOST) {
        let host = HeaderValue::from_str(&target.authority).map_err(|_| {
            Failure::Invalid(format!("{what}: the host cannot be sent as a header"))
        })?;
        headers.insert(header::HOST, host);
    }
    if !headers.contains_key(header::USER_AGENT) {
        headers.insert(header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
    }
    Ok(headers)
}

/// What came back.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    /// Lowercase names, lossily decoded values, at most [`MAX_RESPONSE_HEADERS`].
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub truncated: bool,
    /// From before the connect to the end of the returned body prefix.
    pub latency: Duration,
    pub remote: SocketAddr,
}

/// Sends one probe. The deadline covers everything, DNS included, since the caller's
/// timeout is how long the step can afford to wait.
pub async fn fetch(target: &Target, probe: &Probe) -> Result<Reply, Failure> {
    match tokio::time::timeout(probe.timeout, exchange(target, probe)).await {
        Ok(reply) => reply,
        Err(_) => Err(Failure::Timeout(format!(
            "{}: no answer within {} ms",
            target.what,
            probe.timeout.as_millis()
        ))),
    }
}

async fn exchange(target: &Target, probe: &Probe) -> Result<Reply, Failure> {
    let what = &target.what;
    let tls = match &target.server_name {
        Some(name) => Some((tls_config().map_err(Failure::Internal)?, name.clone())),
        None => None,
    };
    let mut addrs: Vec<SocketAddr> = Vec::new();
    if let Some(server) = probe.resolver
        && target.host.parse::<std::net::IpAddr>().is_err()
    {
        let found = super::resolve::a_records(server, &target.host, probe.timeout)
            .await
            .unwrap_or_default();
        addrs.extend(
            found
                .into_iter()
                .map(|ip| SocketAddr::from((ip, target.port))),
        );
    }
    if addrs.is_empty() {
        addrs = tokio::net::lookup_host((target.host.as_str(), target.port))
            .await
            .map_err(|e| {
                Failure::Unavailable(format!("{what}: cannot resolve `{}`: {e}", target.host))
            })?
            .take(MAX_ADDRESSES)
            .collect();
    }
    if addrs.is_empty() {
        return Err(Failure::Unavailable(format!(
            "{what}: `{}` resolves to no address",
            target.host
        )));
    }
    let started = Instant::now();
    let (stream, remote) = connect(what, &addrs).await?;
    // Latency is the point of a probe; do not let Nagle add to it.
    let _ = stream.set_nodelay(true);
    let (status, headers, body, truncated) = match tls {
        Some((config, name)) => {
            let stream = TlsConnector::from(config)
                .connect(name, stream)
                .await
                .map_err(|e| {
                    Failure::Unavailable(format!("{what}: TLS with {remote} failed: {}", chain(&e)))
                })?;
            over(stream, target, probe, remote).await?
        }
        None => over(stream, target, probe, remote).await?,
    };
    Ok(Reply {
        status,
        headers,
        body,
        truncated,
        latency: started.elapsed(),
        remote,
    })
}

/// Tries each address in resolver order, as a browser without happy eyeballs would.
async fn connect(what: &str, addrs: &[SocketAddr]) -> Result<(TcpStream, SocketAddr), Failure> {
    let mut failures = Vec::with_capacity(addrs.len());
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                let remote = stream.peer_addr().unwrap_or(*addr);
                return Ok((stream, remote));
            }
            Err(e) => failures.push(format!("{addr} ({e})")),
        }
    }
    Err(Failure::Unavailable(format!(
        "{what}: nothing answered at {}",
        failures.join(", ")
    )))
}

type Head = (u16, Vec<(String, String)>, Vec<u8>, bool);

/// The HTTP exchange over an open connection, plain or TLS.
async fn over<S>(io: S, target: &Target, probe: &Probe, remote: SocketAddr) -> Result<Head, Failure>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let what = &target.what;
    let broken = |e: hyper::Error| {
        Failure::Unavailable(format!("{what}: {remote} did not answer: {}", chain(&e)))
    };
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(io))
            .await
            .map_err(broken)?;
    // Held until the body prefix is read; dropping it closes the connection rather
    // than leaving a task to drain a body nobody wants.
    let _conn = AbortOnDrop(tokio::spawn(async move {
        let _ = conn.await;
    }));
    let mut request = hyper::Request::new(Empty::<Bytes>::new());
    *request.method_mut() = probe.method.http();
    *request.uri_mut() = target.path.clone();
    *request.headers_mut() = probe.headers.clone();
    let response = sender.send_request(request).await.map_err(broken)?;
    let (parts, mut body) = response.into_parts();
    let (prefix, truncated) = read_prefix(&mut body, probe.max_body).await.map_err(|e| {
        Failure::Unavailable(format!(
            "{what}: the body from {remote} broke off: {}",
            chain(&e)
        ))
    })?;
    let headers = parts
        .headers
        .iter()
        .take(MAX_RESPONSE_HEADERS)
        .map(|(name, value)| (name.as_str().to_owned(), lossy(value.as_bytes())))
        .collect();
    Ok((parts.status.as_u16(), headers, prefix, truncated))
}

/// Reads at most `max` bytes of the body, then stops. A chunked body whose last chunk
/// ends exactly at `max` counts as truncated: telling would mean reading on.
async fn read_prefix(body: &mut Incoming, max: usize) -> Result<(Vec<u8>, bool), hyper::Error> {
    let mut prefix = Vec::with_capacity(max.min(16 << 10));
    while prefix.len() < max {
        let Some(frame) = body.frame().await else {
            return Ok((prefix, false));
        };
        if let Ok(data) = frame?.into_data() {
            let room = max - prefix.len();
            if data.len() > room {
                prefix.extend_from_slice(&data[..room]);
                return Ok((prefix, true));
            }
            prefix.extend_from_slice(&data);
        }
    }
    Ok((prefix, !body.is_end_stream()))
}

fn lossy(bytes: &[u8]) -> String {
    let bytes = &bytes[..bytes.len().min(MAX_HEADER)];
    String::from_utf8_lossy(bytes).into_owned()
}

/// An error with its causes: hyper's own message ("connection error") says little
/// without the I/O error under it.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Built once: loading the system's roots reads many files.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG.get_or_init(build_tls_config).clone()
}

fn build_tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    let (added, _unparsable) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = found
            .errors
            .first()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default();
        return Err(format!(
            "https probes need trusted root certificates and none were found on this host{why}"
        ));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("https probes cannot be set up: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;
    use tokio::sync::mpsc;

    /// A one-response-per-connection server on loopback; each request head it reads is
    /// sent on the returned channel.
    async fn serve(response: Vec<u8>) -> (SocketAddr, mpsc::UnboundedReceiver<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let response = response.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let _ = tx.send(String::from_utf8_lossy(&head).into_owned());
                    let _ = sock.write_all(&response).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        (addr, rx)
    }

    fn probe(method: Method, timeout: Duration, max_body: usize) -> Probe {
        Probe {
            method,
            timeout,
            max_body,
            headers: HeaderMap::new(),
            resolver: None,
        }
    }

    async fn get(
        url: &str,
        method: Method,
        max_body: usize,
        extra: &[(String, String)],
    ) -> Result<Reply, Failure> {
        let target = Target::parse(method, url)?;
        let mut p = probe(method, Duration::from_secs(5), max_body);
        p.headers = request_headers(&target, extra)?;
        fetch(&target, &p).await
    }

    fn response(body: &str) -> Vec<u8> {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nX-Served-By: Test\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    #[tokio::test]
    async fn returns_status_headers_body_and_the_address_that_answered() {
        let (addr, mut heads) = serve(response("hello")).await;
        let url = format!("http://{addr}/healthz?deep=1");
        let reply = get(&url, Method::Get, 1024, &[]).await.unwrap();
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body, b"hello");
        assert!(!reply.truncated);
        assert_eq!(reply.remote, addr);
        assert_eq!(reply.remote.to_string(), addr.to_string());
        assert!(
            reply
                .headers
                .contains(&("x-served-by".to_owned(), "Test".to_owned()))
        );
        assert!(reply.latency > Duration::ZERO);
        let head = heads.recv().await.unwrap().to_ascii_lowercase();
        assert!(
            head.starts_with("get /healthz?deep=1 http/1.1\r\n"),
            "{head}"
        );
        assert!(head.contains(&format!("host: {addr}\r\n")), "{head}");
        assert!(head.contains("user-agent: runner-probe/"), "{head}");
    }

    #[tokio::test]
    async fn any_status_is_a_response() {
        let (addr, _heads) =
            serve(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n".to_vec()).await;
        let reply = get(&format!("http://{addr}"), Method::Get, 1024, &[])
            .await
            .unwrap();
        assert_eq!(reply.status, 503);
        assert!(reply.body.is_empty());
        assert!(!reply.truncated);
    }

    #[tokio::test]
    async fn caller_headers_are_sent_and_may_replace_host() {
        let (addr, mut heads) = serve(response("ok")).await;
        let extra = [
            ("Host".to_owned(), "app.example.com".to_owned()),
            ("x-probe".to_owned(), "1".to_owned()),
        ];
        get(&format!("http://{addr}/"), Method::Get, 16, &extra)
            .await
            .unwrap();
        let head = heads.recv().await.unwrap().to_ascii_lowercase();
        assert!(head.contains("host: app.example.com\r\n"), "{head}");
        assert!(!head.contains(&format!("host: {addr}")), "{head}");
        assert!(head.contains("x-probe: 1\r\n"), "{head}");
    }

    #[tokio::test]
    async fn a_body_longer_than_max_body_is_cut_and_marked() {
        let body = "x".repeat(100_000);
        let (addr, _heads) = serve(response(&body)).await;
        let url = format!("http://{addr}/big");
        let reply = get(&url, Method::Get, 10, &[]).await.unwrap();
        assert_eq!(reply.body, b"xxxxxxxxxx");
        assert!(reply.truncated);

        let reply = get(&url, Method::Get, 0, &[]).await.unwrap();
        assert!(reply.body.is_empty());
        assert!(reply.truncated);

        let (addr, _heads) = serve(response("exact")).await;
        let reply = get(&format!("http://{addr}/"), Method::Get, 5, &[])
            .await
            .unwrap();
        assert_eq!(reply.body, b"exact");
        assert!(!reply.truncated);
    }

    #[tokio::test]
    async fn chunked_bodies_are_read_up_to_max_body() {
        let (addr, _heads) = serve(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n"
                .to_vec(),
        )
        .await;
        let url = format!("http://{addr}/");
        let reply = get(&url, Method::Get, 1024, &[]).await.unwrap();
        assert_eq!(reply.body, b"abcdef");
        assert!(!reply.truncated);
        let reply = get(&url, Method::Get, 4, &[]).await.unwrap();
        assert_eq!(reply.body, b"abcd");
        assert!(reply.truncated);
    }

    #[tokio::test]
    async fn head_returns_headers_without_a_body() {
        let (addr, mut heads) =
            serve(b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n".to_vec()).await;
        let reply = get(&format!("http://{addr}/"), Method::Head, 1024, &[])
            .await
            .unwrap();
        assert_eq!(reply.status, 200);
        assert!(reply.body.is_empty());
        assert!(!reply.truncated);
        assert!(
            reply
                .headers
                .contains(&("content-length".to_owned(), "1234".to_owned()))
        );
        assert!(
            heads
                .recv()
                .await
                .unwrap()
                .starts_with("HEAD / HTTP/1.1\r\n")
        );
    }

    #[tokio::test]
    async fn a_server_that_never_answers_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (_sock, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(30)).await;
        });
        let url = format!("http://{addr}/slow");
        let target = Target::parse(Method::Get, &url).unwrap();
        let mut p = probe(Method::Get, Duration::from_millis(200), 1024);
        p.headers = request_headers(&target, &[]).unwrap();
        let started = Instant::now();
        let err = fetch(&target, &p).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(
            err,
            Failure::Timeout(format!("GET {url}: no answer within 200 ms"))
        );
        server.abort();
    }

    #[tokio::test]
    async fn a_closed_port_is_unavailable() {
        let addr = {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            listener.local_addr().unwrap()
        };
        let url = format!("http://{addr}/");
        match get(&url, Method::Get, 1024, &[]).await {
            Err(Failure::Unavailable(m)) => {
                assert!(m.starts_with(&format!("GET {url}: ")), "{m}");
                assert!(m.contains(&addr.to_string()), "{m}");
            }
            other => panic!("expected unavailable, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_connection_closed_without_an_answer_is_unavailable() {
        let (addr, _heads) = serve(Vec::new()).await;
        let err = get(&format!("http://{addr}/"), Method::Get, 1024, &[])
            .await
            .unwrap_err();
        assert!(matches!(err, Failure::Unavailable(_)), "{err:?}");
    }

    #[tokio::test]
    async fn https_to_a_plain_server_fails_the_handshake() {
        // The roots come from the machine; without any there is no handshake to test.
        if tls_config().is_err() {
            return;
        }
        // Answers at once, without waiting for a request head a TLS client never sends.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let _ = sock.write_all(&response("not tls")).await;
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        let url = format!("https://{addr}/");
        match get(&url, Method::Get, 1024, &[]).await {
            Err(Failure::Unavailable(m)) => assert!(m.contains("TLS"), "{m}"),
            other => panic!("expected unavailable, got {other:?}"),
        }
    }

    fn invalid(url: &str) -> String {
        match Target::parse(Method::Get, url) {
            Err(Failure::Invalid(m)) => m,
            other => panic!("expected invalid for {url}, got {other:?}"),
        }
    }

    #[test]
    fn bad_urls_are_invalid_and_named() {
        let m = invalid("ftp://example.com/file");
        assert!(
            m.contains("ftp://example.com/file") && m.contains("`ftp`"),
            "{m}"
        );
        assert!(invalid("example.com/healthz").contains("http://"));
        assert!(invalid("http:///healthz").contains("GET http:///healthz"));
        assert!(invalid("http://user:pw@example.com/").contains("credentials"));
        assert!(invalid("http://example.com:0/").contains("port 0"));
        assert!(invalid("http://[not-v6]/").contains("IPv6"));
        assert!(invalid("http://example.com/a b").contains("not a valid URL"));
        assert!(invalid(&format!("http://a/{}", "x".repeat(MAX_URL))).contains("at most"));
    }

    #[test]
    fn urls_give_host_port_and_path() {
        let t = Target::parse(Method::Get, "https://Example.COM").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("example.com", 443));
        assert_eq!(t.path, "/");
        assert!(t.server_name.is_some());
        let t = Target::parse(Method::Head, "http://[::1]:8080/x?y=1#frag").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 8080));
        assert_eq!(t.authority, "[::1]:8080");
        assert_eq!(t.path, "/x?y=1");
        let t = Target::parse(Method::Get, "http://10.0.0.1?q").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("10.0.0.1", 80));
        assert_eq!(t.path, "/?q");
        let t = Target::parse(Method::Get, "https://10.0.0.1/").unwrap();
        assert!(matches!(t.server_name, Some(ServerName::IpAddress(_))));
    }

    #[test]
    fn bad_request_headers_are_invalid() {
        let t = Target::parse(Method::Get, "http://127.0.0.1/").unwrap();
        let one = |n: &str, v: &str| request_headers(&t, &[(n.to_owned(), v.to_owned())]);
        assert!(matches!(one("bad name", "x"), Err(Failure::Invalid(_))));
        assert!(matches!(
            one("x-a", "line\nbreak"),
            Err(Failure::Invalid(_))
        ));
        assert!(matches!(
            one("Content-Length", "5"),
            Err(Failure::Invalid(_))
        ));
        assert!(matches!(
            one("x-big", &"v".repeat(MAX_HEADER)),
            Err(Failure::Invalid(_))
        ));
        let many: Vec<_> = (0..=MAX_REQUEST_HEADERS)
            .map(|i| (format!("x-{i}"), "v".to_owned()))
            .collect();
        assert!(matches!(
            request_headers(&t, &many),
            Err(Failure::Invalid(_))
        ));
        let h = one("User-Agent", "mine").unwrap();
        assert_eq!(h[header::USER_AGENT], "mine");
        assert_eq!(h[header::HOST], "127.0.0.1");
    }

    #[test]
    fn limits_are_clamped() {
        assert_eq!(deadline(0), DEFAULT_TIMEOUT);
        assert_eq!(deadline(2000), Duration::from_millis(2000));
        assert_eq!(deadline(u32::MAX), MAX_TIMEOUT);
        assert_eq!(body_limit(0), 0);
        assert_eq!(body_limit(100), 100);
        assert_eq!(body_limit(u32::MAX), MAX_BODY);
    }
}
