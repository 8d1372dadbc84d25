//! The PROXY protocol (v1 text and v2 binary, parsed by the `ppp` crate):
//! with `--proxy-protocol`, a connection from a `--trusted-proxies` peer
//! starts with a header naming the client's address. It is read with a
//! deadline (`--proxy-header-timeout-ms`) and at most [`MAX_HEADER_BYTES`];
//! bytes read past it belong to the HTTP or TLS stream and are replayed
//! ([`Rewind`]). A connection whose header is missing, malformed or late
//! is closed (`proxy_header`). Other peers' connections are never read
//! this way: their bytes are HTTP (or TLS) from the first one.

use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use ppp::{HeaderResult, PartialResult, v1, v2};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

/// Longest header accepted: a v1 line is at most 107 bytes; a v2 header's
/// TLVs are bounded here (load balancers send a few dozen bytes).
pub const MAX_HEADER_BYTES: usize = 1024;

/// Why no client address came out of a PROXY header.
#[derive(Debug, thiserror::Error)]
pub enum ProxyHeaderError {
    /// Nothing complete within the deadline.
    #[error("no PROXY header within {0:?}")]
    Timeout(Duration),
    /// Not a PROXY header, or one over [`MAX_HEADER_BYTES`].
    #[error("malformed PROXY header")]
    Malformed,
    /// The connection closed or failed first.
    #[error("reading the PROXY header: {0}")]
    Io(#[from] io::Error),
}

impl ProxyHeaderError {
    /// Stable label.
    pub fn label(&self) -> &'static str {
        match self {
            ProxyHeaderError::Timeout(_) => "timeout",
            ProxyHeaderError::Malformed => "malformed",
            ProxyHeaderError::Io(_) => "io",
        }
    }
}

/// Reads a PROXY header from `io` within `deadline`. Returns the client's
/// address (`None` for `LOCAL`/`UNKNOWN` headers: the proxy's own
/// connection, e.g. a health check) and `io` with any bytes read past the
/// header put back in front.
pub async fn read<S>(
    mut io: S,
    deadline: Duration,
) -> Result<(Option<IpAddr>, Rewind<S>), ProxyHeaderError>
where
    S: AsyncRead + Unpin,
{
    let mut buf = BytesMut::with_capacity(256);
    let parsed = tokio::time::timeout(deadline, async {
        loop {
            if buf.len() >= MAX_HEADER_BYTES {
                return Err(ProxyHeaderError::Malformed);
            }
            if io.read_buf(&mut buf).await? == 0 {
                return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
            }
            let header = HeaderResult::parse(&buf);
            if header.is_incomplete() {
                continue;
            }
            return parse(header);
        }
    })
    .await
    .map_err(|_| ProxyHeaderError::Timeout(deadline))??;
    let (client, used) = parsed;
    let rest = buf.split_off(used.min(buf.len())).freeze();
    Ok((client, Rewind { prefix: rest, io }))
}

/// The client address and the header's length in bytes.
fn parse(header: HeaderResult<'_>) -> Result<(Option<IpAddr>, usize), ProxyHeaderError> {
    match header {
        HeaderResult::V1(Ok(h)) => {
            let client = match h.addresses {
                v1::Addresses::Tcp4(a) => Some(IpAddr::V4(a.source_address)),
                v1::Addresses::Tcp6(a) => Some(IpAddr::V6(a.source_address)),
                v1::Addresses::Unknown => None,
            };
            Ok((client, h.header.len()))
        }
        HeaderResult::V2(Ok(h)) => {
            let client = match (h.command, h.addresses) {
                (v2::Command::Local, _) => None,
                (_, v2::Addresses::IPv4(a)) => Some(IpAddr::V4(a.source_address)),
                (_, v2::Addresses::IPv6(a)) => Some(IpAddr::V6(a.source_address)),
                _ => None,
            };
            Ok((client, h.header.len()))
        }
        HeaderResult::V1(Err(_)) | HeaderResult::V2(Err(_)) => Err(ProxyHeaderError::Malformed),
    }
}

/// A stream with bytes already read from it put back in front.
pub struct Rewind<S> {
    prefix: Bytes,
    io: S,
}

impl<S> Rewind<S> {
    /// `io` with nothing put back.
    pub fn new(io: S) -> Rewind<S> {
        Rewind {
            prefix: Bytes::new(),
            io,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix[..n]);
            self.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn client_of(bytes: &[u8]) -> (Option<IpAddr>, Vec<u8>) {
        let (client, mut rest) = read(bytes, Duration::from_secs(1))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut tail = Vec::new();
        rest.read_to_end(&mut tail)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        (client, tail)
    }

    #[tokio::test]
    async fn a_v1_header_names_the_client_and_the_request_follows_untouched() {
        let (client, tail) =
            client_of(b"PROXY TCP4 198.51.100.7 10.0.0.1 50000 7700\r\nGET / HTTP/1.1\r\n").await;
        assert_eq!(client, Some(IpAddr::from([198, 51, 100, 7])));
        assert_eq!(tail, b"GET / HTTP/1.1\r\n");
    }

    #[tokio::test]
    async fn a_v2_header_names_the_client() {
        let mut header = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
        header.extend([0x21, 0x11, 0, 12]);
        header.extend([203, 0, 113, 9, 10, 0, 0, 1, 0xC3, 0x50, 0x1E, 0x14]);
        header.extend(b"GET");
        let (client, tail) = client_of(&header).await;
        assert_eq!(client, Some(IpAddr::from([203, 0, 113, 9])));
        assert_eq!(tail, b"GET");
    }

    #[tokio::test]
    async fn anything_else_is_malformed() {
        let refused = read(
            &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
            Duration::from_secs(1),
        )
        .await;
        assert!(matches!(refused, Err(ProxyHeaderError::Malformed)));
    }
}
