//! The session's side of the WebSocket: batched writes with a stall limit,
//! how a WebSocket error maps to a [`Disconnect`], and the closing
//! handshake.
//!
//! Room frames arrive pre-framed ([`WireFrame`]). On plain TCP the session
//! writes them to the socket itself (the rest of a partial direct write
//! first), after flushing whatever tungstenite holds, so frames keep their
//! order; over TLS (no shared socket) their payload goes through
//! tungstenite like the session's own replies. While it writes, the
//! session tells the outbox it is busy: the room queues instead of
//! writing directly, and may write directly again once the session has
//! written everything.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message};
use futures_util::{FutureExt, Sink, SinkExt, Stream, StreamExt};
use tokio_tungstenite::tungstenite;

use super::Session;
use crate::net::close::Disconnect;
use crate::room::outbox::Queued;

/// One frame the session writes, in order.
pub(super) enum Out {
    /// The session's own message, framed by tungstenite.
    Message(Message),
    /// A room frame, pre-framed, perhaps partly written already.
    Wire(Queued),
}

/// Why a write failed.
enum WriteError {
    Ws(axum::Error),
    Io(std::io::Error),
}

/// Time allowed to deliver a close frame and read the client's answer.
const CLOSE_LINGER: Duration = Duration::from_secs(1);

impl Session {
    /// Feeds every queued reply, then flushes once. A write that completes
    /// at once (the common case) arms no timer; one that waits gives up when
    /// the session ends (shutdown, kick) or after `limit` (slow consumer).
    pub(super) async fn write_replies<S>(
        &mut self,
        ws: &mut S,
        ended: Pin<&mut impl Future<Output = Disconnect>>,
        limit: Duration,
    ) -> Result<(), Disconnect>
    where
        S: Sink<Message, Error = axum::Error> + Unpin,
    {
        if let Some(m) = &self.room {
            m.outbox.writer_busy();
        }
        self.flush_pending = false;
        let replies = &mut self.replies;
        let direct = self.direct.as_deref();
        let write = async {
            let mut fed = false;
            for out in replies.drain(..) {
                match (out, direct) {
                    (Out::Message(message), _) => {
                        ws.feed(message).await.map_err(WriteError::Ws)?;
                        fed = true;
                    }
                    (Out::Wire(q), Some(socket)) => {
                        if fed {
                            ws.flush().await.map_err(WriteError::Ws)?;
                            fed = false;
                        }
                        q.frame
                            .write_from(q.written, socket)
                            .await
                            .map_err(WriteError::Io)?;
                    }
                    (Out::Wire(q), None) => {
                        ws.feed(Message::Binary(q.frame.payload()))
                            .await
                            .map_err(WriteError::Ws)?;
                        fed = true;
                    }
                }
            }
            ws.flush().await.map_err(WriteError::Ws)
        };
        tokio::pin!(write);
        let written = match write.as_mut().now_or_never() {
            Some(result) => result.map_err(classify_write),
            None => tokio::select! {
                biased;
                cause = ended => Err(cause),
                result = write => result.map_err(classify_write),
                _ = tokio::time::sleep(limit) => Err(Disconnect::SlowConsumer),
            },
        };
        if written.is_ok()
            && let Some(m) = &self.room
        {
            m.outbox.writer_idle();
        }
        written
    }
}

/// Queued room frames as the session writes them.
pub(super) fn wire(q: Queued) -> Out {
    Out::Wire(q)
}

fn classify_write(e: WriteError) -> Disconnect {
    match e {
        WriteError::Ws(e) => classify(e),
        WriteError::Io(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Disconnect::ClientClose,
        WriteError::Io(_) => Disconnect::NetworkError,
    }
}

/// Maps a WebSocket error to the cause it ends the session with.
pub(super) fn classify(e: axum::Error) -> Disconnect {
    match e.into_inner().downcast::<tungstenite::Error>() {
        Ok(e) => match *e {
            tungstenite::Error::Capacity(_) => Disconnect::FrameTooLarge,
            tungstenite::Error::WriteBufferFull(_) => Disconnect::SlowConsumer,
            tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
                Disconnect::ClientClose
            }
            tungstenite::Error::Protocol(_) | tungstenite::Error::Utf8(_) => {
                Disconnect::ProtocolError
            }
            _ => Disconnect::NetworkError,
        },
        Err(_) => Disconnect::NetworkError,
    }
}

/// Sends the close frame for `cause` (if it has one) and lingers briefly for
/// the client's answer, so the close reason is not lost to a TCP reset.
pub(super) async fn close<S>(ws: &mut S, cause: Disconnect)
where
    S: Stream<Item = Result<Message, axum::Error>> + Sink<Message, Error = axum::Error> + Unpin,
{
    let Some(code) = cause.close_code() else {
        // The client closed: flush tungstenite's queued close answer.
        if tokio::time::timeout(CLOSE_LINGER, ws.flush())
            .await
            .is_err()
        {
            tracing::debug!("close answer not flushed in time");
        }
        return;
    };
    let frame = CloseFrame {
        code,
        reason: cause.label().into(),
    };
    let linger = async {
        ws.send(Message::Close(Some(frame))).await?;
        while let Some(message) = ws.next().await {
            if let Message::Close(_) = message? {
                break;
            }
        }
        Ok::<(), axum::Error>(())
    };
    match tokio::time::timeout(CLOSE_LINGER, linger).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(error = %e, "close handshake failed"),
        Err(_) => tracing::debug!(cause = cause.label(), "close handshake timed out"),
    }
}
