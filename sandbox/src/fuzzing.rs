//! Fuzzing entry points, not an API: one function per fuzz target of this crate (see
//! `fuzz/README.md`). Each takes arbitrary bytes, may meet errors, and must never panic;
//! the checks inside are properties every input must keep. They are plain functions so
//! `fuzz/fuzz_targets/` calls them under libFuzzer and the committed corpora replay as
//! ordinary tests on stable Rust (the tests at the end of this file).

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use tokio::io::{AsyncRead, ReadBuf};

use crate::aws::sigv4::{self, AuthError, SignedRequest};
use crate::dataplane::dns::wire::{self, Answer, RData, Rcode, Record};
use crate::dataplane::http1::{self, BodyError, Conn, Framing, Head, HeadRead, Kind};
use crate::kube::{managed_fields, patch, protobuf};

/// A fuzz target's body: any bytes in, never a panic.
pub type Body = fn(&[u8]);

/// This crate's fuzz targets: the name of the target (its file in `fuzz/fuzz_targets/`
/// and its corpus in `fuzz/corpus/`) and its body.
pub const TARGETS: &[(&str, Body)] = &[
    ("sigv4", sigv4),
    ("http1", http1),
    ("http_guard", http_guard),
    ("dns_wire", dns_wire),
    ("protobuf", protobuf),
    ("patch", patch),
];

/// The key pair the fuzzed requests are checked against.
const ACCESS_KEY_ID: &str = "AKIDFUZZ";
const SECRET: &str = "fuzz/secret";
/// The clock while fuzzing: 2026-01-01T00:00:00Z.
const NOW: u64 = 1_767_225_600;

/// SigV4 verification of a request written as an HTTP/1 message (head, blank line,
/// body). The fuzzer cannot forge an HMAC, so a request whose signature is `fuzz` is
/// verified a second time signed for real, reaching the date and skew checks.
pub fn sigv4(data: &[u8]) {
    let split = find(data, b"\r\n\r\n").map_or(data.len(), |i| i + 4);
    let (head, body) = data.split_at(split);
    let Some(head) = Head::parse(head) else {
        return;
    };
    let mut headers = HeaderMap::new();
    for (name, value) in &head.fields {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            headers.append(name, value);
        }
    }
    let (raw_path, raw_query) = match head.start[1].split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (head.start[1], None),
    };
    let req = SignedRequest {
        method: head.start[0],
        raw_path,
        raw_query,
        headers: &headers,
        body,
    };
    let verified = sigv4::verify(&req, ACCESS_KEY_ID, SECRET, NOW);
    if let Ok(scope) = &verified {
        assert_eq!(scope.access_key_id, ACCESS_KEY_ID);
    }
    let Some(signed) = sign_for_real(&req) else {
        return;
    };
    headers.insert("authorization", signed);
    let req = SignedRequest {
        method: head.start[0],
        raw_path,
        raw_query,
        headers: &headers,
        body,
    };
    match sigv4::verify(&req, ACCESS_KEY_ID, SECRET, NOW) {
        Ok(_) | Err(AuthError::Expired(_) | AuthError::Malformed(_)) => {}
        // The date may not parse, or not match the credential's.
        Err(AuthError::BadSignature) => {}
        Err(other) => panic!("a request signed with the right key refused: {other:?}"),
    }
}

/// The `Authorization` header of `req` with its `Signature=fuzz` replaced by the real
/// signature; None when there is no such header or it does not name the key and scope.
fn sign_for_real(req: &SignedRequest<'_>) -> Option<HeaderValue> {
    let auth = req.headers.get("authorization")?.to_str().ok()?;
    let params = auth.strip_prefix("AWS4-HMAC-SHA256 ")?;
    let param = |name: &str| {
        params
            .split(',')
            .find_map(|p| p.trim().strip_prefix(name)?.strip_prefix('='))
    };
    if param("Signature")? != "fuzz" {
        return None;
    }
    let signed_headers = param("SignedHeaders")?;
    let credential: Vec<&str> = param("Credential")?.split('/').collect();
    let [ACCESS_KEY_ID, date, region, service, "aws4_request"] = credential[..] else {
        return None;
    };
    let amz_date = req.headers.get("x-amz-date")?.to_str().ok()?;
    let signature = sigv4::sign(
        req,
        signed_headers,
        amz_date,
        [date, region, service],
        SECRET,
    );
    let auth = auth.replace("Signature=fuzz", &format!("Signature={signature}"));
    HeaderValue::from_str(&auth).ok()
}

/// Where `needle` first is in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The HTTP/1 head and body parsers as the ALB's proxy drives them: a request head read
/// from a connection within the ALB's limits, parsed, framed (or refused), then its
/// body copied as is and re-chunked. The first byte sets how many bytes each read
/// returns, so heads and chunk lines arrive split.
pub fn http1(data: &[u8]) {
    let Some((&step, data)) = data.split_first() else {
        return;
    };
    let step = usize::from(step % 64) + 1;
    let mut conn = Conn::new(Trickle { data, step });
    let Ok(HeadRead::Complete(len)) =
        block_on(conn.read_head(Kind::Request, http1::REQUEST_LIMITS))
    else {
        return;
    };
    let raw = &conn.pending()[..len];
    assert!(
        raw.ends_with(b"\n\r\n") || raw.ends_with(b"\n\n"),
        "a head without its blank line"
    );
    assert!(len <= http1::REQUEST_LIMITS.total, "a head past the limit");
    let Ok(head) = Head::request(raw) else {
        return;
    };
    let _ = (head.get("host"), head.connection_named());
    let _ = head.has_token("connection", "close");
    let framing = head.request_framing();
    if let (Ok(Framing::Length(n)), false) = (framing, head.get("content-length").is_some()) {
        panic!("a length of {n} without Content-Length");
    }
    if framing == Ok(Framing::Chunked) && head.get("content-length").is_some() {
        panic!("chunked beside Content-Length was not refused");
    }
    let Ok(framing) = framing else {
        return;
    };
    conn.consume(len);
    // The body: what was read past the head, then what was not read yet.
    let rest = [conn.pending(), conn.stream.data].concat();
    let limit = 1 << 16;
    // As is, then re-chunked: both from the same bytes.
    let plain = copy(
        Conn::new(Trickle { data: &rest, step }),
        framing,
        false,
        limit,
    );
    let chunked = copy(
        Conn::new(Trickle { data: &rest, step }),
        framing,
        true,
        limit,
    );
    match (plain, chunked) {
        (Ok(plain), Ok(chunked)) if framing != Framing::None => {
            // What was re-chunked reads back as the same body.
            let again = copy(
                Conn::new(Trickle {
                    data: &chunked,
                    step,
                }),
                Framing::Chunked,
                false,
                limit,
            )
            .expect("re-chunked output reads back");
            assert_eq!(again, plain, "re-chunking changed the body");
        }
        (Ok(_), Ok(_)) => {}
        (Err(_), Err(_)) => {}
        (plain, chunked) => panic!("copied as is: {plain:?}, re-chunked: {chunked:?}"),
    }
}

/// The body `copy_body` writes from `src`.
fn copy(
    mut src: Conn<Trickle<'_>>,
    framing: Framing,
    chunked: bool,
    limit: u64,
) -> Result<Vec<u8>, BodyError> {
    let mut dst = Vec::new();
    let mut out = Vec::new();
    block_on(http1::copy_body(
        &mut src, &mut dst, framing, chunked, limit, &mut out,
    ))?;
    dst.extend_from_slice(&out);
    Ok(dst)
}

/// A byte source that returns at most `step` bytes a read, then end of stream.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl AsyncRead for Trickle<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = self.step.min(self.data.len()).min(buf.remaining());
        let (now, later) = self.data.split_at(n);
        buf.put_slice(now);
        self.data = later;
        Poll::Ready(Ok(()))
    }
}

/// Runs a future whose I/O is all in memory, so it never waits.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("in-memory I/O waited"),
    }
}

/// The API listeners' head guard over a client's byte stream, read the way the HTTP
/// server reads it; the first byte sets how many bytes each socket read returns. What
/// the server is handed must be the client's bytes, in order, up to a refused head,
/// then only the stand-in request; and a refused head must be one `head::check`
/// refuses.
pub fn http_guard(data: &[u8]) {
    use crate::serving::{Limits, guard::Guarded, head};
    use std::sync::Arc;

    let Some((&step, data)) = data.split_first() else {
        return;
    };
    let step = usize::from(step % 64) + 1;
    thread_local! {
        static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime for the guard's deadlines");
    }
    let limits = Limits::aws();
    let handed = RUNTIME.with(|rt| {
        let _entered = rt.enter();
        let mut guard = Guarded::new(Trickle { data, step }, Arc::new(limits.clone()));
        let mut handed = Vec::new();
        let mut chunk = [0u8; 1000];
        loop {
            let mut buf = ReadBuf::new(&mut chunk);
            match Pin::new(&mut guard).poll_read(&mut Context::from_waker(Waker::noop()), &mut buf)
            {
                Poll::Ready(Ok(())) if buf.filled().is_empty() => break,
                Poll::Ready(Ok(())) => handed.extend_from_slice(buf.filled()),
                // The stand-in was handed over: nothing more comes.
                Poll::Pending => break,
                Poll::Ready(Err(e)) => panic!("in-memory reads failed: {e}"),
            }
        }
        handed
    });
    if data.starts_with(&handed) {
        return;
    }
    // Where the client's bytes stop and the stand-in starts (the refused head may begin
    // with the stand-in's own first bytes, by chance).
    let kept = handed.iter().zip(data).take_while(|(a, b)| a == b).count();
    let stand_in = b"GET / HTTP/1.1\r\nhost: sandbox\r\nconnection: close\r\n";
    let at = (0..=kept)
        .rev()
        .find(|&at| handed[at..].starts_with(stand_in))
        .unwrap_or_else(|| {
            panic!(
                "the guard handed over bytes the client never sent: {:?}",
                String::from_utf8_lossy(&handed[kept..])
            )
        });
    assert!(
        head::check(&data[at..], &limits.head).is_err(),
        "a head was refused that head::check accepts"
    );
}

/// A client's socket as well: what the server writes to it is dropped.
impl tokio::io::AsyncWrite for Trickle<'_> {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The DNS wire decoder, and the response written to what it read: the response must
/// carry the question exactly as asked.
pub fn dns_wire(data: &[u8]) {
    let header = wire::parse_header(data);
    let Ok(query) = wire::parse_query(data) else {
        if let Some(header) = header {
            let error = wire::write_error(header, Rcode::FormErr);
            assert_eq!(error[..2], data[..2], "the error has the query's id");
        }
        return;
    };
    let name = &query.question.name;
    let record = |rtype, data| Record {
        name: name.clone(),
        rtype,
        ttl: 60,
        data,
    };
    let answer = Answer {
        rcode: Rcode::NoError,
        aa: true,
        answers: vec![
            record(wire::TYPE_CNAME, RData::Name(format!("alias.{name}"))),
            record(wire::TYPE_A, RData::A(Ipv4Addr::new(192, 0, 2, 1))),
            record(wire::TYPE_AAAA, RData::Aaaa(Ipv6Addr::LOCALHOST)),
            record(wire::TYPE_TXT, RData::Txt(vec![name.as_bytes().to_vec()])),
        ],
        authority: vec![record(
            wire::TYPE_SOA,
            RData::Soa {
                mname: format!("ns.{name}"),
                rname: "hostmaster.example.com.".into(),
                serial: 1,
                refresh: 2,
                retry: 3,
                expire: 4,
                minimum: 5,
            },
        )],
    };
    for limit in [512, 65_535] {
        let mut response = wire::write_response(&query, &answer, limit);
        assert_eq!(response[..2], data[..2], "the response has the query's id");
        // Read back as a query (QR cleared), the response asks the same question.
        response[2] &= 0x7f;
        let again = wire::parse_query(&response).expect("the response's question reads back");
        assert_eq!(again.question, query.question);
    }
}

/// The Kubernetes protobuf decoder.
pub fn protobuf(data: &[u8]) {
    if let Ok(object) = protobuf::decode(data) {
        assert!(object["apiVersion"].is_string() && object["kind"].is_string());
    }
}

/// JSON merge patch, strategic merge patch, server-side apply and JSON patch, on a
/// document and a patch given as two JSON texts separated by a NUL byte.
pub fn patch(data: &[u8]) {
    let Some(split) = data.iter().position(|&b| b == 0) else {
        return;
    };
    let (Ok(doc), Ok(patch)) = (
        serde_json::from_slice::<Value>(&data[..split]),
        serde_json::from_slice::<Value>(&data[split + 1..]),
    ) else {
        return;
    };
    let mut merged = doc.clone();
    patch::merge(&mut merged, &patch);
    let mut twice = merged.clone();
    patch::merge(&mut twice, &patch);
    assert_eq!(
        twice, merged,
        "a merge patch applied twice changed the result"
    );

    let mut strategic = doc.clone();
    patch::strategic(&mut strategic, &patch);
    let mut applied = doc.clone();
    patch::apply(&mut applied, &patch);
    let mut patched = doc.clone();
    let _ = patch::json_patch(&mut patched, &patch);

    // Field ownership: the document applied by one manager, then the patch by another
    // (a conflict or a takeover), then the document again.
    let writer = |manager| managed_fields::Writer {
        manager,
        subresource: "",
        scope: managed_fields::Scope::Main,
    };
    if let Ok(first) = managed_fields::apply(&serde_json::json!({}), &doc, &writer("a"), false) {
        for force in [false, true] {
            if let Ok(second) = managed_fields::apply(&first, &patch, &writer("b"), force) {
                let _ = managed_fields::apply(&second, &doc, &writer("a"), false);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_fuzz_corpus_replays_without_a_panic() {
        runner_workflow::fuzzing::replay_corpora(super::TARGETS);
    }
}
