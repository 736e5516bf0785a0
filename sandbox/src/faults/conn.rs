//! Connections a fault can cut. Every API listener (AWS and each cluster) is served
//! through [`crate::serving::serve`], whose connections carry a [`Conn`] in each
//! request's extensions.
//! A handler that decides to reset the connection calls [`Conn::cut`] and returns any
//! response: the response is never written, and the socket is closed with an RST
//! (SO_LINGER 0), which is what a client sees when a load balancer or a crashed server
//! drops it. One mechanism for "reset before the request is applied", "reset after"
//! and a watch stream dropped mid-way.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::extract::ConnectInfo;
use axum::http::Request;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A connection as the HTTP server sees it: the socket, until cut.
pub struct CuttableStream {
    stream: TcpStream,
    cut: Arc<AtomicBool>,
}

/// A request's handle on its connection.
#[derive(Debug, Clone)]
pub struct Conn {
    cut: Arc<AtomicBool>,
}

impl Conn {
    /// From then on the connection fails every read and write, so the server drops it
    /// without writing anything more, and the socket is reset.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
    }

    /// The connection of `req`, when it was served by [`serve`] (requests handed to a
    /// router directly, as in unit tests, have none: a reset then does nothing).
    pub fn of<B>(req: &Request<B>) -> Option<Conn> {
        req.extensions()
            .get::<ConnectInfo<Conn>>()
            .map(|c| c.0.clone())
    }
}

/// Resets the connection of a request (when it has one) and returns a response that
/// will never be written: what a handler returns for a reset fault.
pub fn reset(conn: Option<&Conn>) -> axum::response::Response {
    if let Some(c) = conn {
        c.cut();
    }
    axum::response::Response::new(axum::body::Body::empty())
}

impl CuttableStream {
    pub fn new(stream: TcpStream) -> Self {
        CuttableStream {
            stream,
            cut: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The handle requests on this connection carry.
    pub fn conn(&self) -> Conn {
        Conn {
            cut: self.cut.clone(),
        }
    }

    fn failed(&self) -> Option<io::Error> {
        self.cut
            .load(Ordering::SeqCst)
            .then(|| io::Error::new(io::ErrorKind::ConnectionReset, "cut by fault injection"))
    }
}

impl Drop for CuttableStream {
    fn drop(&mut self) {
        if self.cut.load(Ordering::SeqCst) {
            // Close with RST, not FIN: the peer sees "connection reset by peer".
            let _ = self.stream.set_zero_linger();
        }
    }
}

impl AsyncRead for CuttableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(e) = self.failed() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for CuttableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(e) = self.failed() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(e) = self.failed() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(e) = self.failed() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
