//! A connection as the HTTP server reads it: every request head is held back until it
//! is complete and [accepted](super::head::accept), and must arrive within the header
//! deadline (a client that trickles its head is cut there, unanswered, as Go's servers
//! do), then its body within the body deadline. A refused head never reaches the server: in its place the server reads a
//! stand-in request, marked with this process's secret, that [`refusal_of`] recognises
//! and the listener answers with the refusal and `Connection: close`. The server so
//! answers the requests before it first, in order, and then closes. To know where the
//! next head starts, the guard follows each body's framing (a length, or chunk sizes)
//! without copying or judging it: the server still decodes the body, and a chunk it
//! cannot parse is its error to answer.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

use super::Limits;
use super::head::{self, Body, Refusal};
use super::listen::{LINGER, LINGER_BYTES};
use crate::dataplane::http1::HeadScan;

/// How much the guard reads from the socket at a time.
const READ_CHUNK: usize = 16 << 10;
/// A chunk-size or trailer line longer than this is no chunked body the guard can
/// follow: from there it passes bytes through and lets the server refuse them.
const MAX_CHUNK_LINE: usize = 4 << 10;

/// Where the guard is in the request stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Head,
    Length(u64),
    ChunkSize,
    ChunkData(u64),
    ChunkEnd,
    Trailer,
    /// Not HTTP any more (an upgrade), or a body the guard cannot follow.
    Opaque,
    /// A head was refused: the stand-in request is the last the server reads.
    Refused,
}

/// Draining a refused connection on shutdown, before the socket closes.
struct Drain {
    shut: bool,
    drained: usize,
    until: Pin<Box<Sleep>>,
}

pub struct Guarded<S> {
    inner: S,
    limits: Arc<Limits>,
    /// Bytes read from the socket and not yet handed to the server.
    buf: Vec<u8>,
    /// `buf[..approved]` may be handed to the server.
    approved: usize,
    /// Follows the head being received, from its first byte.
    scan: Option<HeadScan>,
    framing: Framing,
    /// Armed at the first byte of a head until it is complete, then for its body.
    deadline: Option<Pin<Box<Sleep>>>,
    /// Set once the server shuts a refused connection down.
    drain: Option<Drain>,
}

impl<S> Guarded<S> {
    pub fn new(inner: S, limits: Arc<Limits>) -> Self {
        Guarded {
            inner,
            limits,
            buf: Vec::new(),
            approved: 0,
            scan: None,
            framing: Framing::Head,
            deadline: None,
            drain: None,
        }
    }

    /// Moves `approved` as far as the framing allows over what `buf` holds.
    fn advance(&mut self) -> Result<(), Refusal> {
        loop {
            let avail = self.buf.len() - self.approved;
            if avail == 0 {
                return Ok(());
            }
            match self.framing {
                Framing::Opaque => {
                    self.approved = self.buf.len();
                    return Ok(());
                }
                Framing::Refused => return Ok(()),
                Framing::Length(n) | Framing::ChunkData(n) => {
                    let k = n.min(avail as u64);
                    self.approved += k as usize;
                    let left = n - k;
                    self.framing = match self.framing {
                        Framing::Length(_) if left == 0 => Framing::Head,
                        Framing::Length(_) => Framing::Length(left),
                        _ if left == 0 => Framing::ChunkEnd,
                        _ => Framing::ChunkData(left),
                    };
                    self.body_done();
                }
                Framing::ChunkSize | Framing::ChunkEnd | Framing::Trailer => {
                    let rest = &self.buf[self.approved..];
                    let Some(end) = memchr::memchr(b'\n', rest) else {
                        if avail > MAX_CHUNK_LINE {
                            self.framing = Framing::Opaque;
                            continue;
                        }
                        return Ok(());
                    };
                    let line = rest[..end].strip_suffix(b"\r").unwrap_or(&rest[..end]);
                    self.framing = after_line(self.framing, line);
                    self.approved += end + 1;
                    self.body_done();
                }
                Framing::Head => {
                    if !self.advance_head()? {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Waits for the blank line that ends the head, then checks the head. Ok(true)
    /// once a head was accepted.
    fn advance_head(&mut self) -> Result<bool, Refusal> {
        if self.deadline.is_none() {
            self.deadline = Some(Box::pin(tokio::time::sleep(self.limits.header_timeout)));
        }
        let rules = &self.limits.head;
        let scan = self.scan.get_or_insert_with(|| head::scan(rules));
        let Some(len) = head::advance(scan, &self.buf[self.approved..], rules)? else {
            return Ok(false);
        };
        let body = head::accept(&self.buf[self.approved..self.approved + len], rules)?;
        self.scan = None;
        self.approved += len;
        self.framing = match body {
            Body::Length(0) => Framing::Head,
            Body::Length(n) => Framing::Length(n),
            Body::Chunked => Framing::ChunkSize,
            Body::Opaque => Framing::Opaque,
        };
        // The body, if any, must arrive within its own deadline.
        self.deadline = matches!(self.framing, Framing::Length(_) | Framing::ChunkSize)
            .then(|| Box::pin(tokio::time::sleep(self.limits.body_timeout)));
        Ok(true)
    }

    /// At the end of a body, its deadline ends too.
    fn body_done(&mut self) {
        if self.framing == Framing::Head {
            self.deadline = None;
        }
    }

    /// Replaces the refused head, and anything after it, with the stand-in request.
    fn refuse(&mut self, refusal: &Refusal) {
        tracing::debug!(
            status = refusal.status,
            reason = %refusal.reason,
            "refused a request head"
        );
        self.deadline = None;
        self.buf.truncate(self.approved);
        self.buf.extend_from_slice(
            format!(
                "GET / HTTP/1.1\r\nhost: sandbox\r\nconnection: close\r\n{MARK}: {} {} {}\r\n\r\n",
                secret(),
                refusal.status,
                refusal.reason
            )
            .as_bytes(),
        );
        self.approved = self.buf.len();
        self.framing = Framing::Refused;
    }
}

/// The header of the stand-in request.
const MARK: &str = "x-sandbox-refused";

/// This process's secret, so a client cannot forge a stand-in request.
fn secret() -> &'static str {
    static SECRET: OnceLock<String> = OnceLock::new();
    SECRET.get_or_init(|| {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).expect("the OS random source");
        hex::encode(bytes)
    })
}

/// The refusal a request stands in for, when it is the guard's stand-in.
pub fn refusal_of<B>(req: &axum::http::Request<B>) -> Option<(u16, String)> {
    let mark = req.headers().get(MARK)?.to_str().ok()?;
    let rest = mark.strip_prefix(secret())?.strip_prefix(' ')?;
    let (status, reason) = rest.split_once(' ')?;
    Some((status.parse().ok()?, reason.to_string()))
}

/// The framing after one line of a chunked body.
fn after_line(framing: Framing, line: &[u8]) -> Framing {
    match framing {
        Framing::ChunkSize => {
            let size = line
                .split(|b| *b == b';')
                .next()
                .unwrap_or_default()
                .trim_ascii();
            match std::str::from_utf8(size)
                .ok()
                .and_then(|s| u64::from_str_radix(s, 16).ok())
            {
                Some(0) => Framing::Trailer,
                Some(n) if !size.is_empty() && size.iter().all(u8::is_ascii_hexdigit) => {
                    Framing::ChunkData(n)
                }
                _ => Framing::Opaque,
            }
        }
        Framing::ChunkEnd if line.is_empty() => Framing::ChunkSize,
        Framing::Trailer if line.is_empty() => Framing::Head,
        Framing::Trailer => Framing::Trailer,
        _ => Framing::Opaque,
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Guarded<S> {
    /// Shuts the write side down, then reads and discards for a moment; Ready once
    /// the socket may close.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let d = self.drain.get_or_insert_with(|| Drain {
            shut: false,
            drained: 0,
            until: Box::pin(tokio::time::sleep(LINGER)),
        });
        if !d.shut {
            ready!(Pin::new(&mut self.inner).poll_shutdown(cx))?;
            d.shut = true;
        }
        let mut scratch = [0u8; 4096];
        while d.drained < LINGER_BYTES && d.until.as_mut().poll(cx).is_pending() {
            let mut rb = ReadBuf::new(&mut scratch);
            match ready!(Pin::new(&mut self.inner).poll_read(cx, &mut rb)) {
                Ok(()) if !rb.filled().is_empty() => d.drained += rb.filled().len(),
                _ => break,
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if this.approved > 0 {
                let n = this.approved.min(out.remaining());
                out.put_slice(&this.buf[..n]);
                this.buf.drain(..n);
                this.approved -= n;
                return Poll::Ready(Ok(()));
            }
            if this.framing == Framing::Refused {
                // Nothing more to read, and no end of stream either: the server would
                // take that for the client leaving, and drop the stand-in unanswered.
                // It closes the connection itself once it has answered it.
                return Poll::Pending;
            }
            let start = this.buf.len();
            this.buf.resize(start + READ_CHUNK, 0);
            let mut rb = ReadBuf::new(&mut this.buf[start..]);
            let polled = Pin::new(&mut this.inner).poll_read(cx, &mut rb);
            let got = rb.filled().len();
            this.buf.truncate(start + got);
            match polled {
                Poll::Ready(Ok(())) if got == 0 => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => {
                    if let Err(refusal) = this.advance() {
                        this.refuse(&refusal);
                    }
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    if let Some(d) = this.deadline.as_mut()
                        && d.as_mut().poll(cx).is_ready()
                    {
                        tracing::debug!(
                            "a request head or body did not arrive within its deadline"
                        );
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "request not received in time",
                        )));
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.framing == Framing::Refused {
            return self.poll_drain(cx);
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
