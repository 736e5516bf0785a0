//! HTTP/1.1 for the ALB's proxy, framed as RFC 9112 frames it: message heads read from
//! a socket within the ALB's documented size limits and parsed by `httparse`, the
//! framing of a request checked before anything of it is forwarded (what RFC 9112 makes
//! an error is a [`Refusal`]), heads rewritten on the way through, and bodies copied by
//! their framing (Content-Length, chunked, or until close) on a socket with its own
//! read buffer.
//!
//! It exists because the sandbox is built in the dev profile, without optimisation: a
//! hyper server and a hyper client per proxied request cost about twice what the pod's
//! own server does. Copying bytes with a few line splits costs a fraction of that.

use std::io;

use httparse::Status;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// How much is read from a socket at once.
const READ_SIZE: usize = 16 * 1024;
/// Body bytes gathered before they are written on.
const WRITE_BATCH: usize = 64 * 1024;
/// Header fields a head may have. AWS documents sizes only; 100 is hyper's bound.
pub const MAX_FIELDS: usize = 100;
/// The longest chunk-size line (size and extensions) or trailer line.
const MAX_CHUNK_LINE: usize = 16 * 1024;

/// How large a head may be; past any bound it is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadLimits {
    /// The request or status line, without its line end.
    pub start_line: usize,
    /// One header field line, name and value, without its line end.
    pub field_line: usize,
    /// The whole head through its blank line.
    pub total: usize,
    /// Header fields.
    pub fields: usize,
}

/// An ALB's request header limits ("Quotas for your Application Load Balancers", HTTP
/// headers): 16 K request line, 16 K single header, 64 K whole request header.
pub const REQUEST_LIMITS: HeadLimits = HeadLimits {
    start_line: 16 * 1024,
    field_line: 16 * 1024,
    total: 64 * 1024,
    fields: MAX_FIELDS,
};

/// An ALB's limit on a target's response head: 32 K whole response header.
pub const RESPONSE_LIMITS: HeadLimits = HeadLimits {
    start_line: 32 * 1024,
    field_line: 32 * 1024,
    total: 32 * 1024,
    fields: MAX_FIELDS,
};

/// Why a request is answered by the proxy itself and its connection closed, nothing of
/// it forwarded. Each is an error RFC 9112 (or the ALB's documented limits) make so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Bytes that are not an HTTP/1.0 or 1.1 message (a TLS hello, binary, `GARBAGE`),
    /// whitespace before a field's colon, an obsolete line folding, a value that is not
    /// UTF-8.
    #[error("not an HTTP/1.x message")]
    Malformed,
    /// Past [`HeadLimits`]: for requests the ALB's 16 KiB request line, 16 KiB field
    /// and 64 KiB head.
    #[error("a request or status line over its limit")]
    StartLineTooLong,
    #[error("a header field over its limit")]
    FieldTooLong,
    #[error("a head over its limit")]
    HeadTooLarge,
    #[error("too many header fields")]
    TooManyFields,
    /// Both framings at once, the classic request-smuggling pattern (RFC 9112 §6.1 lets
    /// a server refuse it; an intermediary must not forward it as sent).
    #[error("both Transfer-Encoding and Content-Length")]
    LengthAndTransferEncoding,
    /// Not 1*DIGIT, several differing values, or past u64 (RFC 9110 §8.6).
    #[error("an invalid Content-Length")]
    BadContentLength,
    /// The body's end cannot be known (RFC 9112 §6.3): chunked not last, or twice.
    #[error("chunked is not the final transfer coding")]
    ChunkedNotFinal,
    /// Transfer-Encoding in an HTTP/1.0 request (RFC 9112 §6.1: faulty framing).
    #[error("Transfer-Encoding in an HTTP/1.0 request")]
    TransferEncodingInHttp10,
    /// A coding the proxy does not implement (RFC 9112 §6.1: 501).
    #[error("a transfer coding other than chunked")]
    UnknownCoding,
    /// RFC 9112 §3.2: an HTTP/1.1 request without Host, with two, or an invalid one.
    #[error("an HTTP/1.1 request without one valid Host")]
    BadHost,
    /// A chunk size that is not hex, too large, or a chunk line not ended by CRLF.
    #[error("a malformed chunked body")]
    BadChunk,
}

impl Refusal {
    /// The status it is answered with.
    pub fn status(self) -> &'static str {
        match self {
            Refusal::UnknownCoding => "501 Not Implemented",
            _ => "400 Bad Request",
        }
    }
}

/// What copying a body met.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The sender's framing is broken (a bad chunk size, a line without its CRLF).
    #[error("a malformed chunked body: {0}")]
    Malformed(&'static str),
    #[error("body too large")]
    TooLarge,
    #[error("reading the body: {0}")]
    Read(#[source] io::Error),
    #[error("writing the body: {0}")]
    Write(#[source] io::Error),
}

/// How a message's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    None,
    Length(u64),
    Chunked,
    /// Until the sender closes (responses only).
    UntilClose,
}

/// Which kind of head a [`HeadScan`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Request,
    Response,
}

/// What reading a head came to.
#[derive(Debug)]
pub enum HeadRead {
    /// The head's length through its blank line.
    Complete(usize),
    /// The stream ended before any byte of a head.
    Closed,
    Refused(Refusal),
}

/// Follows a head as its bytes arrive, so that a head past a limit, or bytes that are
/// not HTTP at all, are refused as soon as they are buffered, not after 64 KiB or a
/// timeout. Each byte is scanned for line ends once; partial heads are also parsed by
/// `httparse` on their first bytes and whenever they have doubled since (linear in all,
/// however the bytes are split).
#[derive(Debug)]
pub struct HeadScan {
    kind: Kind,
    limits: HeadLimits,
    /// Bytes already scanned for line ends.
    scanned: usize,
    /// Where the current line starts.
    line_start: usize,
    /// Complete non-empty lines so far (the start line, then fields).
    lines: usize,
    /// Buffered length at the last parse of a partial head.
    parsed: usize,
}

impl HeadScan {
    pub fn new(kind: Kind, limits: HeadLimits) -> Self {
        HeadScan {
            kind,
            limits,
            scanned: 0,
            line_start: 0,
            lines: 0,
            parsed: 0,
        }
    }

    /// Looks at what is buffered (the same buffer, grown, each call): the head's length
    /// once its blank line is in, None while it is incomplete and within its limits.
    pub fn advance(&mut self, buf: &[u8]) -> Result<Option<usize>, Refusal> {
        while let Some(i) = memchr::memchr(b'\n', &buf[self.scanned..]) {
            let end = self.scanned + i + 1;
            let line = &buf[self.line_start..end - 1];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            self.scanned = end;
            if line.is_empty() {
                if self.lines == 0 {
                    // Empty lines before the start line are skipped (RFC 9112 §2.2).
                    self.line_start = end;
                    continue;
                }
                if end > self.limits.total {
                    return Err(Refusal::HeadTooLarge);
                }
                return Ok(Some(end));
            }
            self.check_line(line.len())?;
            self.lines += 1;
            if self.lines > self.limits.fields + 1 {
                return Err(Refusal::TooManyFields);
            }
            self.line_start = end;
        }
        self.scanned = buf.len();
        self.check_line(buf.len() - self.line_start)?;
        if buf.len() > self.limits.total {
            return Err(Refusal::HeadTooLarge);
        }
        if buf.len() > self.line_start && buf.len() >= self.parsed * 2 {
            self.parsed = buf.len();
            parse_partial(self.kind, buf, self.limits.fields)?;
        }
        Ok(None)
    }

    fn check_line(&self, len: usize) -> Result<(), Refusal> {
        if self.lines == 0 && len > self.limits.start_line {
            Err(Refusal::StartLineTooLong)
        } else if self.lines > 0 && len > self.limits.field_line {
            Err(Refusal::FieldTooLong)
        } else {
            Ok(())
        }
    }
}

/// Refuses an incomplete head whose bytes already cannot be HTTP.
fn parse_partial(kind: Kind, buf: &[u8], fields: usize) -> Result<(), Refusal> {
    let mut fields = vec![httparse::EMPTY_HEADER; fields];
    let parsed = match kind {
        Kind::Request => httparse::Request::new(&mut fields).parse(buf),
        Kind::Response => httparse::Response::new(&mut fields).parse(buf),
    };
    parsed.map(drop).map_err(refusal)
}

fn refusal(e: httparse::Error) -> Refusal {
    match e {
        httparse::Error::TooManyHeaders => Refusal::TooManyFields,
        _ => Refusal::Malformed,
    }
}

/// A socket (or, when fuzzing, any byte source) and what has been read from it but not
/// used yet.
pub struct Conn<S = TcpStream> {
    pub stream: S,
    buf: Vec<u8>,
    start: usize,
}

impl<S: AsyncRead + Unpin> Conn<S> {
    pub fn new(stream: S) -> Self {
        Conn {
            stream,
            buf: Vec::new(),
            start: 0,
        }
    }

    /// The bytes read and not consumed yet.
    pub fn pending(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    pub fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start >= self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
    }

    /// Reads more; the number of bytes read (0 at end of stream).
    pub async fn fill(&mut self) -> io::Result<usize> {
        if self.start > 0 && self.start * 2 >= self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        if self.buf.capacity() - self.buf.len() < READ_SIZE / 4 {
            self.buf.reserve(READ_SIZE);
        }
        self.stream.read_buf(&mut self.buf).await
    }

    /// Reads until a whole head of `kind` is buffered, within `limits`.
    pub async fn read_head(&mut self, kind: Kind, limits: HeadLimits) -> io::Result<HeadRead> {
        let mut scan = HeadScan::new(kind, limits);
        loop {
            match scan.advance(self.pending()) {
                Ok(Some(n)) => return Ok(HeadRead::Complete(n)),
                Ok(None) => {}
                Err(r) => return Ok(HeadRead::Refused(r)),
            }
            if self.fill().await? == 0 {
                return if self.pending().is_empty() {
                    Ok(HeadRead::Closed)
                } else {
                    Err(io::ErrorKind::UnexpectedEof.into())
                };
            }
        }
    }

    /// Reads one line of a chunked body (a chunk size or a trailer field) and hands it
    /// to `f` without its CRLF. A line must end in CRLF: a bare LF is where parsers
    /// disagree on the body's end, the stuff of request smuggling.
    async fn read_line<T>(&mut self, f: impl FnOnce(&[u8]) -> T) -> Result<T, BodyError> {
        let mut searched = 0;
        loop {
            if let Some(i) = memchr::memchr(b'\n', &self.pending()[searched..]) {
                let end = searched + i;
                let line = &self.pending()[..end];
                let Some(line) = line.strip_suffix(b"\r") else {
                    return Err(BodyError::Malformed("a line ended by a bare LF"));
                };
                if memchr::memchr(b'\r', line).is_some() {
                    return Err(BodyError::Malformed("a bare CR"));
                }
                let out = f(line);
                self.consume(end + 1);
                return Ok(out);
            }
            searched = self.pending().len();
            if searched > MAX_CHUNK_LINE {
                return Err(BodyError::Malformed("line too long"));
            }
            if self.fill().await.map_err(BodyError::Read)? == 0 {
                return Err(BodyError::Read(io::ErrorKind::UnexpectedEof.into()));
            }
        }
    }
}

/// A chunk-size line's size (RFC 9112 §7.1: 1*HEXDIG, then extensions after `;`, which
/// are dropped). Parsed by hand: `u64::from_str_radix` would take a leading `+`.
fn chunk_size(line: &[u8]) -> Result<u64, BodyError> {
    let bad = || BodyError::Malformed("bad chunk size");
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(bad());
    }
    let rest = &line[digits..];
    let rest = &rest[rest
        .iter()
        .take_while(|b| matches!(b, b' ' | b'\t'))
        .count()..];
    if !rest.is_empty() && rest[0] != b';' {
        return Err(bad());
    }
    line[..digits].iter().try_fold(0u64, |n, &b| {
        let d = (b as char).to_digit(16).ok_or_else(bad)?;
        n.checked_mul(16)
            .and_then(|n| n.checked_add(u64::from(d)))
            .ok_or_else(bad)
    })
}

/// Header fields that belong to one hop and are not forwarded.
pub fn hop_by_hop(name: &str) -> bool {
    [
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "proxy-authorization",
    ]
    .iter()
    .any(|h| name.eq_ignore_ascii_case(h))
}

/// A parsed head: the start line's three parts (method, target, version; or version,
/// status, reason) and the fields, borrowed from the buffer.
#[derive(Debug)]
pub struct Head<'a> {
    pub start: [&'a str; 3],
    pub fields: Vec<(&'a str, &'a str)>,
}

fn version(minor: u8) -> &'static str {
    if minor == 0 { "HTTP/1.0" } else { "HTTP/1.1" }
}

/// The fields `httparse` found, with values as text (a value that is not UTF-8 is
/// refused: the proxy rewrites heads as text).
fn fields<'a>(parsed: &[httparse::Header<'a>]) -> Result<Vec<(&'a str, &'a str)>, Refusal> {
    parsed
        .iter()
        .map(|h| {
            std::str::from_utf8(h.value)
                .map(|v| (h.name, v))
                .map_err(|_| Refusal::Malformed)
        })
        .collect()
}

impl<'a> Head<'a> {
    /// A request head (through its blank line), parsed by `httparse`: obsolete line
    /// folding and whitespace before a field's colon are refused, as RFC 9112 §5 asks.
    pub fn request(raw: &'a [u8]) -> Result<Head<'a>, Refusal> {
        Head::request_within(raw, MAX_FIELDS)
    }

    /// [`Head::request`] with at most `fields` header fields.
    pub fn request_within(raw: &'a [u8], max_fields: usize) -> Result<Head<'a>, Refusal> {
        let mut parsed = vec![httparse::EMPTY_HEADER; max_fields];
        let mut req = httparse::Request::new(&mut parsed);
        match req.parse(raw).map_err(refusal)? {
            Status::Complete(n) if n == raw.len() => {}
            _ => return Err(Refusal::Malformed),
        }
        let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
            return Err(Refusal::Malformed);
        };
        Ok(Head {
            start: [method, target, version(minor)],
            fields: fields(req.headers)?,
        })
    }

    /// A response head (through its blank line); None when it is not one.
    pub fn response(raw: &'a [u8]) -> Option<Head<'a>> {
        let mut parsed = [httparse::EMPTY_HEADER; MAX_FIELDS];
        let mut resp = httparse::Response::new(&mut parsed);
        match resp.parse(raw).ok()? {
            Status::Complete(n) if n == raw.len() => {}
            _ => return None,
        }
        // The status as text: httparse checked `HTTP/1.x SP 3DIGIT` at the start of the
        // first non-empty line.
        let line = raw.iter().position(|b| !matches!(b, b'\r' | b'\n'))?;
        let code = std::str::from_utf8(raw.get(line + 9..line + 12)?).ok()?;
        debug_assert_eq!(code.parse::<u16>().ok(), resp.code);
        Some(Head {
            start: [version(resp.version?), code, resp.reason.unwrap_or("")],
            fields: fields(resp.headers).ok()?,
        })
    }

    /// A request or a response head (for the fuzz targets that take either).
    pub fn parse(raw: &'a [u8]) -> Option<Head<'a>> {
        Head::request(raw).ok().or_else(|| Head::response(raw))
    }

    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.values(name).next()
    }

    fn values(&self, name: &str) -> impl Iterator<Item = &'a str> {
        self.fields
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    /// The elements of the comma-separated lists in every `name` field (empty ones
    /// dropped, as RFC 9110 §5.6.1 asks).
    fn list(&self, name: &str) -> impl Iterator<Item = &'a str> {
        self.values(name)
            .flat_map(|v| v.split(','))
            .map(|t| t.trim_matches([' ', '\t']))
            .filter(|t| !t.is_empty())
    }

    /// Whether the comma-separated values of `name` hold `token`.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.list(name).any(|t| t.eq_ignore_ascii_case(token))
    }

    /// The fields the `Connection` field names (hop-by-hop as well).
    pub fn connection_named(&self) -> Vec<&'a str> {
        self.list("connection").collect()
    }

    /// Content-Length: 1*DIGIT, the same value however many times it is given (RFC
    /// 9110 §8.6). Whitespace around a value or list element is not part of it (§5.5).
    fn content_length(&self) -> Result<Option<u64>, Refusal> {
        let mut length = None;
        for v in self
            .values("content-length")
            .flat_map(|v| v.split(','))
            .map(|v| v.trim_matches([' ', '\t']))
        {
            if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Refusal::BadContentLength);
            }
            let n: u64 = v.parse().map_err(|_| Refusal::BadContentLength)?;
            if length.is_some_and(|l| l != n) {
                return Err(Refusal::BadContentLength);
            }
            length = Some(n);
        }
        Ok(length)
    }

    /// A request's body framing, and its Host checked, by RFC 9112 §6 and §3.2:
    /// chunked must be the last coding and the only one the proxy knows (501 for any
    /// other), never beside Content-Length, never in HTTP/1.0.
    pub fn request_framing(&self) -> Result<Framing, Refusal> {
        let http10 = self.start[2] == "HTTP/1.0";
        let hosts: Vec<&str> = self.values("host").collect();
        match hosts.as_slice() {
            [] if !http10 => return Err(Refusal::BadHost),
            [] => {}
            [host] if valid_host(host) => {}
            _ => return Err(Refusal::BadHost),
        }
        let length = self.content_length()?;
        if self.get("transfer-encoding").is_none() {
            return Ok(length.map_or(Framing::None, Framing::Length));
        }
        if http10 {
            return Err(Refusal::TransferEncodingInHttp10);
        }
        if length.is_some() {
            return Err(Refusal::LengthAndTransferEncoding);
        }
        let codings: Vec<&str> = self.list("transfer-encoding").collect();
        let chunked = |c: &str| c.eq_ignore_ascii_case("chunked");
        let last_chunked = codings.last().is_some_and(|c| chunked(c));
        match codings.iter().filter(|c| chunked(c)).count() {
            0 if !codings.is_empty() => Err(Refusal::UnknownCoding),
            1 if last_chunked && codings.len() == 1 => Ok(Framing::Chunked),
            1 if last_chunked => Err(Refusal::UnknownCoding),
            _ => Err(Refusal::ChunkedNotFinal),
        }
    }

    /// A response's body framing; None when it is invalid (a coding other than chunked
    /// last, conflicting lengths).
    pub fn framing(&self) -> Option<Framing> {
        if self.get("transfer-encoding").is_some() {
            let last = self.list("transfer-encoding").last()?;
            return last
                .eq_ignore_ascii_case("chunked")
                .then_some(Framing::Chunked);
        }
        let length = self.content_length().ok()?;
        Some(length.map_or(Framing::None, Framing::Length))
    }
}

/// A Host value as RFC 3986's `host [ ":" port ]`: what may stand in an authority, no
/// whitespace, path or user info.
fn valid_host(host: &str) -> bool {
    host.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:%[]".contains(&b))
}

/// Copies one body of `framing` from `src` to `dst`: re-encoded as chunks when `chunked`
/// (the sender's chunk extensions and trailers are dropped), else as plain bytes. At
/// most `limit` body bytes; more is an error. Small bodies go out with `out` (a head
/// already written into it) in one write.
pub async fn copy_body<S: AsyncRead + Unpin, D: AsyncWrite + Unpin>(
    src: &mut Conn<S>,
    dst: &mut D,
    framing: Framing,
    chunked: bool,
    limit: u64,
    out: &mut Vec<u8>,
) -> Result<(), BodyError> {
    let mut total: u64 = 0;
    match framing {
        Framing::None => {}
        Framing::Length(n) => {
            if n > limit {
                return Err(BodyError::TooLarge);
            }
            copy_exact(src, dst, n, chunked, out).await?;
        }
        Framing::Chunked => loop {
            let size = src.read_line(chunk_size).await??;
            if size == 0 {
                // Trailer fields, up to the blank line.
                let mut trailers = 0;
                while !src.read_line(<[u8]>::is_empty).await? {
                    trailers += 1;
                    if trailers > MAX_FIELDS {
                        return Err(BodyError::Malformed("too many trailer fields"));
                    }
                }
                break;
            }
            // Checked: chunk sizes are the sender's, and two of them can pass u64::MAX.
            total = total
                .checked_add(size)
                .filter(|t| *t <= limit)
                .ok_or(BodyError::TooLarge)?;
            copy_exact(src, dst, size, chunked, out).await?;
            if !src.read_line(<[u8]>::is_empty).await? {
                return Err(BodyError::Malformed("bad chunk end"));
            }
        },
        Framing::UntilClose => loop {
            if src.pending().is_empty() && src.fill().await.map_err(BodyError::Read)? == 0 {
                break;
            }
            let n = src.pending().len();
            total += n as u64;
            if total > limit {
                return Err(BodyError::TooLarge);
            }
            copy_exact(src, dst, n as u64, chunked, out).await?;
        },
    }
    if chunked && framing != Framing::None {
        out.extend_from_slice(b"0\r\n\r\n");
    }
    if !out.is_empty() {
        dst.write_all(out).await.map_err(BodyError::Write)?;
        out.clear();
    }
    Ok(())
}

/// Copies exactly `n` bytes (one chunk's worth when `chunked`).
async fn copy_exact<S: AsyncRead + Unpin, D: AsyncWrite + Unpin>(
    src: &mut Conn<S>,
    dst: &mut D,
    n: u64,
    chunked: bool,
    out: &mut Vec<u8>,
) -> Result<(), BodyError> {
    if n == 0 {
        return Ok(());
    }
    if chunked {
        out.extend_from_slice(format!("{n:x}\r\n").as_bytes());
    }
    let mut left = n;
    while left > 0 {
        if src.pending().is_empty() && src.fill().await.map_err(BodyError::Read)? == 0 {
            return Err(BodyError::Read(io::ErrorKind::UnexpectedEof.into()));
        }
        let take = src
            .pending()
            .len()
            .min(usize::try_from(left).unwrap_or(usize::MAX));
        out.extend_from_slice(&src.pending()[..take]);
        src.consume(take);
        left -= take as u64;
        if out.len() >= WRITE_BATCH {
            dst.write_all(out).await.map_err(BodyError::Write)?;
            out.clear();
        }
    }
    if chunked {
        out.extend_from_slice(b"\r\n");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scans `raw` as one buffer.
    fn scan(raw: &[u8]) -> Result<Option<usize>, Refusal> {
        HeadScan::new(Kind::Request, REQUEST_LIMITS).advance(raw)
    }

    /// Parses and frames a whole request head.
    fn framed(raw: &str) -> Result<Framing, Refusal> {
        Head::request(raw.as_bytes())?.request_framing()
    }

    #[test]
    fn heads_parse_and_frame() {
        let raw = b"GET /a?b HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, X-Hop\r\nContent-Length: 3\r\n\r\n";
        let h = Head::request(raw).unwrap();
        assert_eq!(h.start, ["GET", "/a?b", "HTTP/1.1"]);
        assert_eq!(h.get("host"), Some("x"));
        assert!(h.has_token("connection", "keep-alive"));
        assert_eq!(h.connection_named(), vec!["keep-alive", "X-Hop"]);
        assert_eq!(h.request_framing(), Ok(Framing::Length(3)));
        let h =
            Head::response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n").unwrap();
        assert_eq!(h.start, ["HTTP/1.1", "200", "OK"]);
        assert_eq!(h.framing(), Some(Framing::Chunked));
        let h = Head::response(b"\r\nHTTP/1.0 404 \r\nContent-Length: 1, 1\r\n\r\n").unwrap();
        assert_eq!(h.start, ["HTTP/1.0", "404", ""]);
        assert_eq!(h.framing(), Some(Framing::Length(1)));
        assert!(
            Head::response(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
                .unwrap()
                .framing()
                .is_none()
        );
        assert_eq!(scan(b"a\r\n\r\nb"), Ok(Some(5)));
        // Empty lines before a request line are skipped, not taken for its end.
        assert_eq!(scan(b"\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"), Ok(Some(29)));
    }

    #[test]
    fn obsolete_folding_and_whitespace_before_a_colon_are_refused() {
        assert_eq!(
            Head::request(b"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n").unwrap_err(),
            Refusal::Malformed
        );
        assert_eq!(
            Head::request(b"GET / HTTP/1.1\r\nHost : x\r\n\r\n").unwrap_err(),
            Refusal::Malformed
        );
        assert_eq!(
            Head::request(b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n").unwrap_err(),
            Refusal::Malformed
        );
    }

    #[test]
    fn bytes_that_are_not_http_are_refused_before_a_blank_line_comes() {
        // A TLS ClientHello's first bytes, random binary: refused on the first read.
        assert_eq!(
            scan(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"),
            Err(Refusal::Malformed)
        );
        assert_eq!(
            scan(&[0x00, 0xff, 0x13, 0x37, 0x80]),
            Err(Refusal::Malformed)
        );
        // A line that is not a request line parses as nothing once complete.
        assert_eq!(scan(b"GARBAGE\r\n\r\n"), Ok(Some(11)));
        assert_eq!(
            Head::request(b"GARBAGE\r\n\r\n").unwrap_err(),
            Refusal::Malformed
        );
        assert_eq!(
            Head::request(b"GET / HTTP/2.0\r\n\r\n").unwrap_err(),
            Refusal::Malformed
        );
        // A valid start is not refused while it is incomplete.
        assert_eq!(scan(b"GET /index.ht"), Ok(None));
    }

    #[test]
    fn heads_past_the_albs_documented_limits_are_refused() {
        let long_target = format!("GET /{} HTTP/1.1\r\n", "a".repeat(16 * 1024));
        assert_eq!(scan(long_target.as_bytes()), Err(Refusal::StartLineTooLong));
        // Refused while still arriving: the line has no end yet.
        assert_eq!(
            scan(&long_target.as_bytes()[..16 * 1024 + 8]),
            Err(Refusal::StartLineTooLong)
        );
        let big = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            "b".repeat(70 * 1024)
        );
        assert_eq!(scan(big.as_bytes()), Err(Refusal::FieldTooLong));
        // 16 KiB fields, five of them: each is fine, the head is not.
        let field = format!("X-F: {}\r\n", "f".repeat(16 * 1024 - 5));
        let head = format!("GET / HTTP/1.1\r\nHost: x\r\n{}\r\n", field.repeat(5));
        assert_eq!(scan(head.as_bytes()), Err(Refusal::HeadTooLarge));
        let ok = format!("GET / HTTP/1.1\r\nHost: x\r\n{}\r\n", field.repeat(3));
        assert_eq!(scan(ok.as_bytes()), Ok(Some(ok.len())));
        let many = format!(
            "GET / HTTP/1.1\r\nHost: x\r\n{}\r\n",
            "A: b\r\n".repeat(100)
        );
        assert_eq!(scan(many.as_bytes()), Err(Refusal::TooManyFields));
        let hundred = format!("GET / HTTP/1.1\r\nHost: x\r\n{}\r\n", "A: b\r\n".repeat(99));
        assert_eq!(scan(hundred.as_bytes()), Ok(Some(hundred.len())));
        assert_eq!(Head::request(hundred.as_bytes()).unwrap().fields.len(), 100);
    }

    #[test]
    fn a_head_split_into_single_bytes_is_found_once_whole() {
        let raw = b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi";
        let mut scan = HeadScan::new(Kind::Request, REQUEST_LIMITS);
        let found = (1..=raw.len()).find_map(|n| scan.advance(&raw[..n]).unwrap());
        assert_eq!(found, Some(raw.len() - 2));
    }

    #[test]
    fn request_smuggling_framings_are_refused() {
        assert_eq!(
            framed(
                "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
            ),
            Err(Refusal::LengthAndTransferEncoding)
        );
        assert_eq!(
            framed("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Err(Refusal::TransferEncodingInHttp10)
        );
        assert_eq!(
            framed("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Ok(Framing::Chunked)
        );
        // Split over two fields, the list is the same.
        assert_eq!(
            framed(
                "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
            ),
            Err(Refusal::ChunkedNotFinal)
        );
    }

    #[test]
    fn content_length_must_be_plain_digits_and_agree_with_itself() {
        let cl = |v: &str| {
            framed(&format!(
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {v}\r\n\r\n"
            ))
        };
        for bad in [
            "+5",
            "-1",
            "5 5",
            "0x5",
            "5,6",
            "",
            "18446744073709551616",
            "5;q=1",
        ] {
            assert_eq!(cl(bad), Err(Refusal::BadContentLength), "{bad:?}");
        }
        assert_eq!(cl("5"), Ok(Framing::Length(5)));
        // The same value twice is one length (RFC 9110 §8.6); whitespace around a
        // value is not part of it (§5.5).
        assert_eq!(cl("5, 5"), Ok(Framing::Length(5)));
        assert_eq!(cl("  5  "), Ok(Framing::Length(5)));
        assert_eq!(
            framed("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"),
            Err(Refusal::BadContentLength)
        );
    }

    #[test]
    fn codings_other_than_a_final_chunked_are_refused() {
        let te = |v: &str| {
            framed(&format!(
                "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: {v}\r\n\r\n"
            ))
        };
        for unknown in ["gzip", "identity", "gzip, chunked", "x-custom"] {
            assert_eq!(te(unknown), Err(Refusal::UnknownCoding), "{unknown:?}");
            assert_eq!(Refusal::UnknownCoding.status(), "501 Not Implemented");
        }
        for not_final in ["chunked, gzip", "chunked, chunked", "", ","] {
            assert_eq!(
                te(not_final),
                Err(Refusal::ChunkedNotFinal),
                "{not_final:?}"
            );
        }
        assert_eq!(te("Chunked"), Ok(Framing::Chunked));
    }

    #[test]
    fn http11_needs_exactly_one_valid_host() {
        assert_eq!(framed("GET / HTTP/1.1\r\n\r\n"), Err(Refusal::BadHost));
        assert_eq!(
            framed("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
            Err(Refusal::BadHost)
        );
        assert_eq!(
            framed("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"),
            Err(Refusal::BadHost)
        );
        assert_eq!(
            framed("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"),
            Err(Refusal::BadHost)
        );
        assert_eq!(
            framed("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"),
            Err(Refusal::BadHost)
        );
        assert_eq!(
            framed("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"),
            Ok(Framing::None)
        );
        assert_eq!(framed("GET / HTTP/1.1\r\nHost:\r\n\r\n"), Ok(Framing::None));
        assert_eq!(framed("GET / HTTP/1.0\r\n\r\n"), Ok(Framing::None));
    }

    #[test]
    fn chunk_sizes_are_strict_hex() {
        assert_eq!(chunk_size(b"1aF").unwrap(), 0x1af);
        assert_eq!(chunk_size(b"5 ; name=value").unwrap(), 5);
        assert_eq!(chunk_size(b"ffffffffffffffff").unwrap(), u64::MAX);
        for bad in [
            &b"+5"[..],
            b"-1",
            b"0x5",
            b"",
            b" 5",
            b"5 x",
            b"g",
            b"10000000000000000",
        ] {
            assert!(
                chunk_size(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    /// A connected pair of loopback sockets.
    async fn pair() -> (TcpStream, TcpStream) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (b, _) = l.accept().await.unwrap();
        (a, b)
    }

    /// Sends `input` through `copy_body` and returns what came out.
    async fn through(
        input: &'static [u8],
        framing: Framing,
        chunked: bool,
    ) -> Result<Vec<u8>, BodyError> {
        let (mut w, r) = pair().await;
        let (mut dst, mut sink) = pair().await;
        tokio::spawn(async move {
            w.write_all(input).await.unwrap();
            w.shutdown().await.unwrap();
        });
        let mut src = Conn::new(r);
        let mut out = Vec::new();
        copy_body(&mut src, &mut dst, framing, chunked, 1 << 20, &mut out).await?;
        drop(dst);
        let mut got = Vec::new();
        sink.read_to_end(&mut got).await.unwrap();
        Ok(got)
    }

    #[tokio::test]
    async fn bodies_copy_by_their_framing() {
        assert_eq!(
            through(b"hello+rest", Framing::Length(5), false)
                .await
                .unwrap(),
            b"hello"
        );
        assert_eq!(
            through(
                b"3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: v\r\n\r\n",
                Framing::Chunked,
                false
            )
            .await
            .unwrap(),
            b"abcde"
        );
        assert_eq!(
            through(b"3\r\nabc\r\n0\r\n\r\n", Framing::Chunked, true)
                .await
                .unwrap(),
            b"3\r\nabc\r\n0\r\n\r\n"
        );
        assert_eq!(
            through(b"until the end", Framing::UntilClose, true)
                .await
                .unwrap(),
            b"d\r\nuntil the end\r\n0\r\n\r\n"
        );
        assert!(matches!(
            through(b"abc", Framing::Length(5), false).await,
            Err(BodyError::Read(_))
        ));
        // Found by the http1 fuzz target: chunk sizes whose sum passes u64::MAX are
        // too large, not an arithmetic overflow.
        let err = through(b"1\r\na\r\nffffffffffffffff\r\n", Framing::Chunked, false)
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "body too large");
    }

    #[tokio::test]
    async fn malformed_chunked_bodies_are_told_apart_from_failed_reads() {
        for bad in [
            &b"zz\r\n"[..],
            b"+3\r\nabc\r\n0\r\n\r\n",
            b"3\nabc\r\n0\r\n\r\n",
            b"3\r\nabcX\r\n0\r\n\r\n",
            b"3\r\nabc\r\n0\r\nT: v\n\r\n",
            b"99999999999999999\r\n",
        ] {
            let err = through(bad, Framing::Chunked, false).await.unwrap_err();
            assert!(
                matches!(err, BodyError::Malformed(_)),
                "{:?}: {err}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
