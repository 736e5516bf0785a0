//! What an API listener accepts as a request head: the data plane's HTTP/1 head rules
//! (RFC 9112 framing and Host, parsed by `httparse`, in [`http1`]) within the emulated
//! server's limits, plus what its server adds: an expectation other than
//! `100-continue` is 417 (Go's net/http), and an upgrade's bytes are not HTTP after
//! its head. hyper, behind the guard, accepts some heads the RFCs make errors (both
//! `Transfer-Encoding` and `Content-Length`, no `Host`, two of them) and answers 400
//! where RFC 9112 §6.1 asks for 501; request smuggling lives in exactly those gaps.

use crate::dataplane::http1::{self, Framing, Head, HeadLimits, HeadScan, Kind};

/// A listener's head limits, and what answers a head over them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadRules {
    pub limits: HeadLimits,
    /// 431 (Request Header Fields Too Large, Go's) or 400 (the ALB's).
    pub oversize_status: u16,
}

/// A head the listener will not serve: the status and reason it answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub reason: String,
}

impl Refusal {
    /// The response: Go's net/http words (kube-apiserver's server), closing the
    /// connection, since it ends with it.
    pub fn response(status: u16, reason: &str) -> axum::response::Response {
        let code =
            axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::BAD_REQUEST);
        let phrase = code.canonical_reason().unwrap_or("Error");
        let mut r = axum::response::Response::new(axum::body::Body::from(format!(
            "{status} {phrase}: {reason}"
        )));
        *r.status_mut() = code;
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

    fn of(r: http1::Refusal, rules: &HeadRules) -> Self {
        use http1::Refusal::*;
        let status = match r {
            StartLineTooLong | FieldTooLong | HeadTooLarge | TooManyFields => rules.oversize_status,
            UnknownCoding => 501,
            _ => 400,
        };
        Refusal {
            status,
            reason: r.to_string(),
        }
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

/// Follows one head as its bytes arrive (see [`HeadScan`]).
pub fn scan(rules: &HeadRules) -> HeadScan {
    HeadScan::new(Kind::Request, rules.limits)
}

/// The head's length once `scan` has seen all of it in `buf` (None while incomplete),
/// refused as soon as it cannot be served.
pub fn advance(
    scan: &mut HeadScan,
    buf: &[u8],
    rules: &HeadRules,
) -> Result<Option<usize>, Refusal> {
    scan.advance(buf).map_err(|r| Refusal::of(r, rules))
}

/// Checks a complete head and frames its body.
pub fn accept(raw: &[u8], rules: &HeadRules) -> Result<Body, Refusal> {
    let head = Head::request_within(raw, rules.limits.fields).map_err(|r| Refusal::of(r, rules))?;
    let framing = head.request_framing().map_err(|r| Refusal::of(r, rules))?;
    let http11 = head.start[2] == "HTTP/1.1";
    if http11
        && head
            .get("expect")
            .is_some_and(|e| !e.trim().eq_ignore_ascii_case("100-continue"))
    {
        return Err(Refusal {
            status: 417,
            reason: "unsupported expectation".into(),
        });
    }
    let upgrade = head.start[0] == "CONNECT"
        || (head.get("upgrade").is_some() && head.has_token("connection", "upgrade"));
    Ok(match framing {
        _ if upgrade => Body::Opaque,
        Framing::Chunked => Body::Chunked,
        Framing::Length(n) => Body::Length(n),
        Framing::None | Framing::UntilClose => Body::Length(0),
    })
}

/// The head at the start of `buf`, checked in one go: its length and body, or None
/// while it is incomplete.
pub fn check(buf: &[u8], rules: &HeadRules) -> Result<Option<(usize, Body)>, Refusal> {
    let Some(len) = advance(&mut scan(rules), buf, rules)? else {
        return Ok(None);
    };
    Ok(Some((len, accept(&buf[..len], rules)?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: HeadRules = HeadRules {
        limits: http1::REQUEST_LIMITS,
        oversize_status: 431,
    };

    /// The status a whole head gets (200: accepted; 0: incomplete).
    fn status(head: &[u8]) -> u16 {
        match check(head, &RULES) {
            Ok(Some(_)) => 200,
            Ok(None) => 0,
            Err(r) => r.status,
        }
    }

    fn body(head: &[u8]) -> Body {
        accept(head, &RULES).unwrap()
    }

    #[test]
    fn what_the_api_listeners_add_to_the_head_rules() {
        // The listener's own status for heads over its limits.
        let big = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            "a".repeat(70 << 10)
        );
        assert_eq!(status(big.as_bytes()), 431);
        assert_eq!(status(&big.as_bytes()[..big.len() - 4]), 431);
        // Unknown codings are 501, the other refusals 400.
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"),
            501
        );
        assert_eq!(status(b"GET / HTTP/1.1\r\n\r\n"), 400);
        // Expectations: only 100-continue.
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\n\r\n"),
            417
        );
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\n\r\n"),
            200
        );
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: x\r\n"), 0);
    }

    #[test]
    fn bodies_are_framed_and_upgrades_end_http() {
        assert_eq!(body(b"GET / HTTP/1.0\r\n\r\n"), Body::Length(0));
        assert_eq!(
            body(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 12\r\n\r\n"),
            Body::Length(12)
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
    }
}
