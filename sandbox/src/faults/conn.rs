//! Connections a fault can cut. Every API listener (AWS and each cluster) is served
//! through [`serve`], whose connections carry a [`Conn`] in each request's extensions.
//! A handler that decides to reset the connection calls [`Conn::cut`] and returns any
//! response: the response is never written, and the socket is closed with an RST
//! (SO_LINGER 0), which is what a client sees when a load balancer or a crashed server
//! drops it. One mechanism for "reset before the request is applied", "reset after"
//! and a watch stream dropped mid-way.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::extract::connect_info::{Connected, IntoMakeServiceWithConnectInfo};
use axum::http::Request;
use axum::middleware::AddExtension;
use axum::serve::{IncomingStream, Listener, Serve};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// A TCP listener whose connections can be cut by the requests they carry.
pub struct FaultListener(pub TcpListener);

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

impl Listener for FaultListener {
    type Io = CuttableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (CuttableStream, SocketAddr) {
        loop {
            match self.0.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    let cut = Arc::new(AtomicBool::new(false));
                    return (CuttableStream { stream, cut }, addr);
                }
                // A client that gave up between SYN and accept: take the next one.
                Err(e) if is_connection_error(&e) => {}
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::error!("accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

impl Connected<IncomingStream<'_, FaultListener>> for Conn {
    fn connect_info(stream: IncomingStream<'_, FaultListener>) -> Self {
        Conn {
            cut: stream.io().cut.clone(),
        }
    }
}

impl CuttableStream {
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

/// The server future [`serve`] returns.
pub type Server = Serve<
    FaultListener,
    IntoMakeServiceWithConnectInfo<Router, Conn>,
    AddExtension<Router, ConnectInfo<Conn>>,
>;

/// Serves `router` on `listener` with cuttable connections (what every API listener of
/// the sandbox uses, faults or not).
pub fn serve(listener: TcpListener, router: Router) -> Server {
    axum::serve(
        FaultListener(listener),
        router.into_make_service_with_connect_info::<Conn>(),
    )
}
