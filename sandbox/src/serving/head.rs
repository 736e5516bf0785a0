//! The rules RFC 9110 and RFC 9112 set for a request head, checked before the HTTP
//! server sees it. hyper accepts some heads the RFCs make errors (a request with both
//! `Transfer-Encoding` and `Content-Length`, an HTTP/1.1 request without `Host`, two
//! `Host`s) and answers 400 where RFC 9112 §6.1 asks for 501 (a transfer coding it does
//! not implement); request smuggling lives in exactly those gaps, so every listener of
//! the sandbox refuses them the same way, with `httparse` doing the parsing.

use httparse::{EMPTY_HEADER, Status};

/// How big a head may be, and what answers one that is bigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadLimits {
    /// The request line and all header lines together, with their line ends.
    pub max_head: usize,
    /// One line: the request line or a single header.
    pub max_line: usize,
    pub max_headers: usize,
    /// 431 (Request Header Fields Too Large) or 400, as the emulated service answers.
    pub oversize_status: u16,
}

/// A head the sandbox will not serve, and the status it answers with before closing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub reason: &'static str,
}

impl Refusal {
    fn bad(reason: &'static str) -> Self {
        Refusal {
            status: 400,
            reason,
        }
    }

    /// The response: Go's net/http words (kube-apiserver's server), closing the
    /// connection, since it ends with it.
    pub fn response(status: u16, reason: &str) -> axum::response::Response {
        let phrase = axum::http::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Error");
        let mut r = axum::response::Response::new(axum::body::Body::from(format!(
            "{status} {phrase}: {reason}"
        )));
        *r.status_mut() =
            axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::BAD_REQUEST);
        let headers = r.headers_mut();
        headers.insert(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        headers.insert(
            axum::http::header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
        r
    }
}

/// How the body after an accepted head is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    Length(u64),
    Chunked,
    /// Whatever follows is another protocol (CONNECT, or an upgrade): no more heads.
    Opaque,
}

/// An accepted head: its length in bytes and its body's framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    pub len: usize,
    pub body: Body,
}

/// Checks the head at the start of `buf`. Ok(None) while it is incomplete.
pub fn check(buf: &[u8], limits: &HeadLimits) -> Result<Option<Accepted>, Refusal> {
    let oversize = |reason| Refusal {
        status: limits.oversize_status,
        reason,
    };
    let mut headers = vec![EMPTY_HEADER; limits.max_headers];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(Status::Complete(len)) => len,
        Ok(Status::Partial) if buf.len() > limits.max_head => {
            return Err(oversize("request headers too large"));
        }
        Ok(Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(oversize("too many headers")),
        Err(httparse::Error::Version) => return Err(Refusal::bad("malformed HTTP version")),
        Err(_) => return Err(Refusal::bad("malformed HTTP request")),
    };
    if len > limits.max_head {
        return Err(oversize("request headers too large"));
    }
    if buf[..len]
        .split(|b| *b == b'\n')
        .any(|line| line.len() > limits.max_line)
    {
        return Err(oversize("request header line too large"));
    }
    let http11 = req.version == Some(1);
    let named = |name: &'static str| named(req.headers, name);
    match named("host").count() {
        0 if http11 => return Err(Refusal::bad("missing required Host header")),
        0 | 1 => {}
        _ => return Err(Refusal::bad("too many Host headers")),
    }
    if named("host").any(|h| !h.value.iter().all(|b| valid_host_byte(*b))) {
        return Err(Refusal::bad("malformed Host header"));
    }
    if http11
        && named("expect").any(|h| !h.value.trim_ascii().eq_ignore_ascii_case(b"100-continue"))
    {
        return Err(Refusal {
            status: 417,
            reason: "unsupported expectation",
        });
    }
    let lengths = named("content-length")
        .map(|h| content_length(h.value))
        .collect::<Result<Vec<u64>, Refusal>>()?;
    if lengths.windows(2).any(|w| w[0] != w[1]) {
        return Err(Refusal::bad("conflicting Content-Length headers"));
    }
    let codings: Vec<String> = named("transfer-encoding")
        .flat_map(|h| h.value.split(|b| *b == b','))
        .map(|c| String::from_utf8_lossy(c).trim().to_ascii_lowercase())
        .collect();
    let body = if codings.is_empty() {
        Body::Length(lengths.first().copied().unwrap_or(0))
    } else {
        transfer_coding(&codings, http11, !lengths.is_empty())?
    };
    let upgrade = req.method == Some("CONNECT")
        || (named("upgrade").next().is_some()
            && named("connection").any(|h| has_token(h.value, "upgrade")));
    Ok(Some(Accepted {
        len,
        body: if upgrade { Body::Opaque } else { body },
    }))
}

fn named<'h, 'b>(
    headers: &'h [httparse::Header<'b>],
    name: &'static str,
) -> impl Iterator<Item = &'h httparse::Header<'b>> {
    headers
        .iter()
        .filter(move |h| h.name.eq_ignore_ascii_case(name))
}

/// A `Content-Length` value: digits only (no sign, no spaces inside), the same number
/// when repeated in a list, and no larger than a u64.
fn content_length(value: &[u8]) -> Result<u64, Refusal> {
    let bad = || Refusal::bad("bad Content-Length");
    let mut n = None;
    for item in value.split(|b| *b == b',') {
        let item = item.trim_ascii();
        if item.is_empty() || !item.iter().all(u8::is_ascii_digit) {
            return Err(bad());
        }
        let v: u64 = std::str::from_utf8(item)
            .map_err(|_| bad())?
            .parse()
            .map_err(|_| bad())?;
        if n.is_some_and(|n| n != v) {
            return Err(bad());
        }
        n = Some(v);
    }
    n.ok_or_else(bad)
}

/// The framing `Transfer-Encoding: codings` gives a request: chunked, and only chunked
/// (no coding is implemented beside it), never together with a Content-Length, and
/// never in HTTP/1.0 (which has no transfer codings).
fn transfer_coding(codings: &[String], http11: bool, has_length: bool) -> Result<Body, Refusal> {
    if !http11 {
        return Err(Refusal::bad("Transfer-Encoding in an HTTP/1.0 request"));
    }
    if has_length {
        return Err(Refusal::bad(
            "both Transfer-Encoding and Content-Length (request smuggling)",
        ));
    }
    if codings.iter().any(|c| c.is_empty()) {
        return Err(Refusal::bad("empty transfer coding"));
    }
    if let Some(_unknown) = codings.iter().find(|c| c.as_str() != "chunked") {
        return Err(Refusal {
            status: 501,
            reason: "unsupported transfer encoding",
        });
    }
    if codings.len() > 1 {
        return Err(Refusal::bad("chunked applied more than once"));
    }
    Ok(Body::Chunked)
}

/// What a Host header may hold (Go's `httpguts.ValidHostHeader`): a name or address
/// literal, a port, percent-escapes and sub-delimiters; no spaces, slashes or controls.
fn valid_host_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!$%&'()*+,-.:;=[]_~".contains(&b)
}

fn has_token(value: &[u8], token: &str) -> bool {
    value
        .split(|b| *b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: HeadLimits = HeadLimits {
        max_head: 64 << 10,
        max_line: 16 << 10,
        max_headers: 100,
        oversize_status: 431,
    };

    fn status(head: &[u8]) -> u16 {
        match check(head, &LIMITS) {
            Ok(Some(_)) => 200,
            Ok(None) => 0,
            Err(r) => r.status,
        }
    }

    fn body(head: &[u8]) -> Body {
        check(head, &LIMITS).unwrap().unwrap().body
    }

    #[test]
    fn framing_the_rfcs_make_errors_is_refused() {
        let cases: &[(&[u8], u16)] = &[
            (
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
                400,
            ),
            (
                b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
                400,
            ),
            (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\n", 400),
            (
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
                400,
            ),
            (
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
                400,
            ),
            (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
            (
                b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                501,
            ),
            (
                b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
                400,
            ),
            (
                b"POST / HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
                400,
            ),
            (b"GET / HTTP/1.1\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400),
            (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 400),
            (b"\x16\x03\x01\x00\x2a\x01\x00\x00\x26\r\n\r\n", 400),
            (b"GARBAGE\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\n\r\n", 417),
        ];
        for (head, want) in cases {
            assert_eq!(status(head), *want, "{}", String::from_utf8_lossy(head));
        }
    }

    #[test]
    fn heads_over_the_limits_get_the_oversize_status() {
        let big = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            "a".repeat(70 << 10)
        );
        assert_eq!(status(big.as_bytes()), 431);
        let line = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            "a".repeat(17 << 10)
        );
        assert_eq!(status(line.as_bytes()), 431);
        let many: String = (0..101).map(|i| format!("X-{i}: v\r\n")).collect();
        assert_eq!(
            status(format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes()),
            431
        );
        // Incomplete but already too big: refused without waiting for the end.
        assert_eq!(status(&big.as_bytes()[..big.len() - 4]), 431);
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: x\r\n"), 0);
    }

    #[test]
    fn good_heads_are_framed() {
        assert_eq!(body(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), Body::Length(0));
        assert_eq!(body(b"GET / HTTP/1.0\r\n\r\n"), Body::Length(0));
        assert_eq!(
            body(b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\nExpect: 100-Continue\r\n\r\n"),
            Body::Length(0)
        );
        assert_eq!(
            body(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 12\r\n\r\n"),
            Body::Length(12)
        );
        assert_eq!(
            body(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 7, 7\r\n\r\n"),
            Body::Length(7)
        );
        assert_eq!(
            body(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n"),
            Body::Chunked
        );
        assert_eq!(
            body(
                b"GET /w HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
            ),
            Body::Opaque
        );
        let accepted = check(b"\r\nGET / HTTP/1.1\nHost: x\n\nrest", &LIMITS)
            .unwrap()
            .unwrap();
        assert_eq!(accepted.len, 26);
    }
}
