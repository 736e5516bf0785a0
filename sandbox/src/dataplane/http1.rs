//! Just enough HTTP/1.1 for the ALB's proxy: message heads parsed from a buffer and
//! rewritten on the way through, and bodies copied by their framing (Content-Length,
//! chunked, or until close), on a socket with its own read buffer.
//!
//! It exists because the sandbox is built in the dev profile, without optimisation: a
//! hyper server and a hyper client per proxied request cost about twice what the pod's
//! own server does. Copying bytes with a few line splits costs a fraction of that. For
//! the same reason bytes are searched with libc's `memchr` (optimised whatever the
//! profile) rather than with iterators, which cost a few calls per byte unoptimised.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// The largest message head accepted (request line or status line and headers).
pub const MAX_HEAD: usize = 64 * 1024;
/// How much is read from a socket at once.
const READ_SIZE: usize = 16 * 1024;
/// Body bytes gathered before they are written on.
const WRITE_BATCH: usize = 64 * 1024;

/// How a message's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    None,
    Length(u64),
    Chunked,
    /// Until the sender closes (responses only).
    UntilClose,
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
            buf: Vec::with_capacity(READ_SIZE),
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

    /// Reads until a whole head is buffered; its length (through the blank line), or
    /// None when the stream ended before any byte of it.
    pub async fn read_head(&mut self) -> io::Result<Option<usize>> {
        let mut searched: usize = 0;
        loop {
            if let Some(n) = head_end(&self.pending()[searched.saturating_sub(3)..]) {
                return Ok(Some(searched.saturating_sub(3) + n));
            }
            searched = self.pending().len();
            if searched > MAX_HEAD {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "head too large"));
            }
            if self.fill().await? == 0 {
                return if searched == 0 {
                    Ok(None)
                } else {
                    Err(io::ErrorKind::UnexpectedEof.into())
                };
            }
        }
    }

    /// Reads one line (a chunk size or trailer line), without its CRLF.
    async fn read_line(&mut self) -> io::Result<Vec<u8>> {
        loop {
            if let Some(i) = find_byte(self.pending(), b'\n') {
                let line = &self.pending()[..i];
                let line = line.strip_suffix(b"\r").unwrap_or(line).to_vec();
                self.consume(i + 1);
                return Ok(line);
            }
            if self.pending().len() > MAX_HEAD {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
            }
            if self.fill().await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }
}

/// Where the blank line ending a head is: the head's length with it.
fn head_end(b: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = find_byte(&b[from..], b'\n') {
        let at = from + i;
        if b.get(at + 1..at + 3) == Some(b"\r\n") && at >= 1 && b[at - 1] == b'\r' {
            return Some(at + 3);
        }
        from = at + 1;
    }
    None
}

/// Where `byte` first is in `hay`.
pub fn find_byte(hay: &[u8], byte: u8) -> Option<usize> {
    if hay.is_empty() {
        return None;
    }
    // SAFETY: the pointer and length are those of a live slice, and memchr reads only
    // within them; the result is null or points into the slice.
    let p = unsafe { libc::memchr(hay.as_ptr().cast(), libc::c_int::from(byte), hay.len()) };
    (!p.is_null()).then(|| p as usize - hay.as_ptr() as usize)
}

/// The text up to the next LF (without a CR before it); `rest` moves past it.
fn next_line<'a>(rest: &mut &'a str) -> &'a str {
    let line = match find_byte(rest.as_bytes(), b'\n') {
        Some(i) => {
            let line = &rest[..i];
            *rest = &rest[i + 1..];
            line
        }
        None => std::mem::take(rest),
    };
    line.strip_suffix('\r').unwrap_or(line)
}

/// `s` without spaces and tabs around it.
fn trim_ows(s: &str) -> &str {
    let b = s.as_bytes();
    let (mut i, mut j) = (0, b.len());
    while i < j && (b[i] == b' ' || b[i] == b'\t') {
        i += 1;
    }
    while j > i && (b[j - 1] == b' ' || b[j - 1] == b'\t') {
        j -= 1;
    }
    &s[i..j]
}

/// `s` split at the first `byte`.
fn split_at_byte(s: &str, byte: u8) -> Option<(&str, &str)> {
    let i = find_byte(s.as_bytes(), byte)?;
    Some((&s[..i], &s[i + 1..]))
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

/// A parsed head: the start line's three parts and the fields, borrowed from the buffer.
#[derive(Debug)]
pub struct Head<'a> {
    pub start: [&'a str; 3],
    pub fields: Vec<(&'a str, &'a str)>,
}

impl<'a> Head<'a> {
    /// Parses `head` (through its blank line). Folded lines and fields without a colon
    /// are refused, as ELB refuses them.
    pub fn parse(head: &'a [u8]) -> Option<Head<'a>> {
        let mut rest = std::str::from_utf8(head.strip_suffix(b"\r\n\r\n")?).ok()?;
        let first = next_line(&mut rest);
        let (a, after) = split_at_byte(first, b' ')?;
        let (b, c) = split_at_byte(after, b' ').unwrap_or((after, ""));
        let start = [a, b, c];
        let mut fields = Vec::with_capacity(16);
        while !rest.is_empty() {
            let line = next_line(&mut rest);
            let (name, value) = split_at_byte(line, b':')?;
            let bytes = name.as_bytes();
            if name.is_empty()
                || find_byte(bytes, b' ').is_some()
                || find_byte(bytes, b'\t').is_some()
            {
                return None;
            }
            fields.push((name, trim_ows(value)));
        }
        Some(Head { start, fields })
    }

    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    /// Whether the comma-separated values of `name` hold `token`.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.fields
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// The fields the `Connection` field names (hop-by-hop as well).
    pub fn connection_named(&self) -> Vec<&'a str> {
        self.fields
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .collect()
    }

    /// The body framing by Transfer-Encoding and Content-Length; None when they are
    /// invalid (a coding other than chunked last, conflicting lengths).
    pub fn framing(&self) -> Option<Framing> {
        if let Some(te) = self.get("transfer-encoding") {
            let last = te.rsplit(',').next().unwrap_or("").trim();
            return last
                .eq_ignore_ascii_case("chunked")
                .then_some(Framing::Chunked);
        }
        let mut length = None;
        for (_, v) in self
            .fields
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        {
            let n: u64 = v.parse().ok()?;
            if length.is_some_and(|l| l != n) {
                return None;
            }
            length = Some(n);
        }
        Some(length.map_or(Framing::None, Framing::Length))
    }
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
) -> io::Result<()> {
    let too_large = || io::Error::new(io::ErrorKind::InvalidData, "body too large");
    let mut total: u64 = 0;
    match framing {
        Framing::None => {}
        Framing::Length(n) => {
            if n > limit {
                return Err(too_large());
            }
            copy_exact(src, dst, n, chunked, out).await?;
        }
        Framing::Chunked => loop {
            let line = src.read_line().await?;
            let size_text = std::str::from_utf8(&line)
                .ok()
                .and_then(|l| l.split(';').next())
                .map(str::trim)
                .unwrap_or("");
            let size = u64::from_str_radix(size_text, 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
            if size == 0 {
                // Trailer fields, up to the blank line.
                while !src.read_line().await?.is_empty() {}
                break;
            }
            // Checked: chunk sizes are the sender's, and two of them can pass u64::MAX.
            total = total
                .checked_add(size)
                .filter(|t| *t <= limit)
                .ok_or_else(too_large)?;
            copy_exact(src, dst, size, chunked, out).await?;
            if !src.read_line().await?.is_empty() {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "bad chunk end"));
            }
        },
        Framing::UntilClose => loop {
            if src.pending().is_empty() && src.fill().await? == 0 {
                break;
            }
            let n = src.pending().len();
            total += n as u64;
            if total > limit {
                return Err(too_large());
            }
            copy_exact(src, dst, n as u64, chunked, out).await?;
        },
    }
    if chunked && framing != Framing::None {
        out.extend_from_slice(b"0\r\n\r\n");
    }
    if !out.is_empty() {
        dst.write_all(out).await?;
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
) -> io::Result<()> {
    if n == 0 {
        return Ok(());
    }
    if chunked {
        out.extend_from_slice(format!("{n:x}\r\n").as_bytes());
    }
    let mut left = n;
    while left > 0 {
        if src.pending().is_empty() && src.fill().await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let take = src
            .pending()
            .len()
            .min(usize::try_from(left).unwrap_or(usize::MAX));
        out.extend_from_slice(&src.pending()[..take]);
        src.consume(take);
        left -= take as u64;
        if out.len() >= WRITE_BATCH {
            dst.write_all(out).await?;
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

    #[test]
    fn heads_parse_and_frame() {
        let raw = b"GET /a?b HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, X-Hop\r\nContent-Length: 3\r\n\r\n";
        let h = Head::parse(raw).unwrap();
        assert_eq!(h.start, ["GET", "/a?b", "HTTP/1.1"]);
        assert_eq!(h.get("host"), Some("x"));
        assert!(h.has_token("connection", "keep-alive"));
        assert_eq!(h.connection_named(), vec!["keep-alive", "X-Hop"]);
        assert_eq!(h.framing(), Some(Framing::Length(3)));
        let h =
            Head::parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n").unwrap();
        assert_eq!(h.start, ["HTTP/1.1", "200", "OK"]);
        assert_eq!(h.framing(), Some(Framing::Chunked));
        let bad_te = Head::parse(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n").unwrap();
        assert_eq!(bad_te.framing(), None);
        let two = Head::parse(b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
        assert_eq!(two.unwrap().framing(), None);
        assert!(Head::parse(b"GET / HTTP/1.1\r\n folded\r\n\r\n").is_none());
        assert!(Head::parse(b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n").is_none());
        assert_eq!(head_end(b"a\r\n\r\nb"), Some(5));
    }

    /// A connected pair of loopback sockets.
    async fn pair() -> (TcpStream, TcpStream) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (b, _) = l.accept().await.unwrap();
        (a, b)
    }

    /// Sends `input` through `copy_body` and returns what came out.
    async fn through(input: &'static [u8], framing: Framing, chunked: bool) -> io::Result<Vec<u8>> {
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
        assert!(through(b"abc", Framing::Length(5), false).await.is_err());
        assert!(through(b"zz\r\n", Framing::Chunked, false).await.is_err());
        // Found by the http1 fuzz target: chunk sizes whose sum passes u64::MAX are
        // too large, not an arithmetic overflow.
        let err = through(b"1\r\na\r\nffffffffffffffff\r\n", Framing::Chunked, false)
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "body too large");
    }
}
