//! The socket under every SMTP connection: ours, not lettre's, so that each has `TCP_NODELAY`
//! (plain, STARTTLS and implicit TLS alike) and so that we can see, before a message goes, whether
//! the server said anything out of turn (closed the connection, or wrote while it should be waiting).
//!
//! Why `TCP_NODELAY`: lettre 0.11.23 writes the end of the data (`<CRLF>.<CRLF>`) as a write of its
//! own; with Nagle's algorithm on, that small segment waits for the ACK of the body, which the
//! server delays by 40 ms because it has nothing to say before the end: 40 ms per email per
//! connection (lettre PR 1159, merged, not in a release yet).
//!
//! Implicit TLS goes through lettre's `AsyncNetworkStream` (the TLS of its STARTTLS, with the same
//! roots), public but deprecated in 0.11 ("not meant to be made public"): lettre is pinned by
//! Cargo.lock, and a lettre with PR 1159 would let this module go.
#![allow(deprecated)]

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use lettre::transport::smtp::client::{AsyncNetworkStream, AsyncTokioStream, TlsParameters};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A TCP connection with `TCP_NODELAY`, shared between lettre (which reads and writes it) and the
/// connection's [`Peek`].
#[derive(Debug)]
pub(super) struct Wire(Arc<TcpStream>);

/// A look at a connection's socket between two commands.
#[derive(Debug, Clone)]
pub(super) struct Peek(Arc<TcpStream>);

impl Wire {
    /// `tcp`, with `TCP_NODELAY` set.
    pub(super) fn new(tcp: TcpStream) -> io::Result<(Wire, Peek)> {
        tcp.set_nodelay(true)?;
        let tcp = Arc::new(tcp);
        Ok((Wire(tcp.clone()), Peek(tcp)))
    }
}

impl Peek {
    /// Whether the server sent anything, or closed the connection, since its last reply was read.
    /// Asked after 354 and before the message: a server waiting for the message says nothing, so
    /// anything here (a `421` before closing, a TLS alert, the end of the stream) means the
    /// connection is going and the message must not be sent on it: the server has nothing of it.
    pub(super) fn spoke_out_of_turn(&self) -> bool {
        let mut cx = Context::from_waker(futures::task::noop_waker_ref());
        let mut byte = [0u8; 1];
        let mut buf = ReadBuf::new(&mut byte);
        // Ready: data, the end of the stream (0 bytes) or an error (a reset); all mean going.
        self.0.poll_peek(&mut cx, &mut buf).is_ready()
    }

    /// Writes `bytes` to the socket itself, for a connection without TLS: lettre writes each
    /// command whole and keeps nothing to write, so this goes in order after its last command.
    pub(super) async fn write_all(&self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            self.0.writable().await?;
            match self.0.try_write(bytes) {
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

impl AsyncRead for Wire {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            std::task::ready!(self.0.poll_read_ready(cx))?;
            match self.0.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                // Readiness was stale: cleared by try_read, polled again.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for Wire {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            std::task::ready!(self.0.poll_write_ready(cx))?;
            match self.0.try_write(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                result => return Poll::Ready(result),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(())) // TCP has no buffer of ours to flush
    }

    /// Nothing: the socket closes when the connection is dropped (QUIT has been said by then).
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl AsyncTokioStream for Wire {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.peer_addr()
    }
}

/// Implicit TLS over a [`Wire`]: lettre's own TLS (its roots and `smtp.ca_file`), made over our
/// socket and handed back to lettre as a stream.
pub(super) struct Tls(AsyncNetworkStream);

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Tls")
    }
}

impl Tls {
    /// The TLS handshake over `wire`, checked with `params`.
    pub(super) async fn handshake(
        wire: Wire,
        params: TlsParameters,
    ) -> Result<Tls, lettre::transport::smtp::Error> {
        // lettre's way to put TLS over a stream of ours (its STARTTLS does the same).
        let mut stream = AsyncNetworkStream::use_existing_tokio1(Box::new(wire));
        stream.upgrade_tls(params).await?;
        Ok(Tls(stream))
    }
}

impl AsyncRead for Tls {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let unfilled = buf.initialize_unfilled();
        let n = std::task::ready!(futures::io::AsyncRead::poll_read(
            Pin::new(&mut self.0),
            cx,
            unfilled
        ))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Tls {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        futures::io::AsyncWrite::poll_write(Pin::new(&mut self.0), cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures::io::AsyncWrite::poll_flush(Pin::new(&mut self.0), cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures::io::AsyncWrite::poll_close(Pin::new(&mut self.0), cx)
    }
}

impl AsyncTokioStream for Tls {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.peer_addr()
    }
}
