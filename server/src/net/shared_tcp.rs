//! A plain TCP socket shared by the connection's reader/writer (hyper, then
//! the WebSocket session) and its room's direct writes: [`SharedTcp`] is
//! `AsyncRead + AsyncWrite` over an `Arc<TcpStream>`, whose other holder
//! writes with `try_write_vectored` (see [`super::wire`]).
//!
//! Who may write when is decided by the member's outbox
//! ([`crate::room::outbox`]): the room writes directly only from the
//! socket's own shard thread, while the session has nothing buffered and
//! nothing is queued, so frames never interleave. TLS connections have no
//! shared socket (their bytes must pass through the TLS session): their
//! room frames always take the queued path.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// See the module docs.
#[derive(Debug, Clone)]
pub struct SharedTcp(Arc<TcpStream>);

impl SharedTcp {
    /// Wraps an accepted socket.
    pub fn new(tcp: TcpStream) -> SharedTcp {
        SharedTcp(Arc::new(tcp))
    }

    /// Another handle to the same socket (for direct writes).
    pub fn socket(&self) -> Arc<TcpStream> {
        self.0.clone()
    }
}

impl AsyncRead for SharedTcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            ready!(self.0.poll_read_ready(cx))?;
            match self.0.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for SharedTcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.0.poll_write_ready(cx))?;
            match self.0.try_write(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                done => return Poll::Ready(done),
            }
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.0.poll_write_ready(cx))?;
            match self.0.try_write_vectored(bufs) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                done => return Poll::Ready(done),
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(socket2::SockRef::from(&*self.0).shutdown(std::net::Shutdown::Write))
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn both_handles_write_to_one_socket_and_reads_see_the_peer() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let mut peer = TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (tcp, _) = listener.accept().await.unwrap_or_else(|e| panic!("{e}"));
        let mut shared = SharedTcp::new(tcp);
        let direct = shared.socket();
        shared
            .write_all(b"one,")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        direct.writable().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(direct.try_write(b"two").ok(), Some(3));
        let mut got = [0u8; 7];
        peer.read_exact(&mut got)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&got, b"one,two");
        peer.write_all(b"hi")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut two = [0u8; 2];
        shared
            .read_exact(&mut two)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&two, b"hi");
    }
}
