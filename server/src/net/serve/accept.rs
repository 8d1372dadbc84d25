//! Accepting on a shard's public listener, with refusals kept cheap and
//! off the room tick's path. The shard thread that accepts also ticks its
//! rooms, so a connection flood must cost it as little as possible:
//!
//! - a refused connection ([`refuse`]) gets no task, no HTTP parser, no
//!   socket options and no allocation: one non-blocking read of what the
//!   client already sent (so that closing sends a FIN, not a reset), one
//!   non-blocking write of a response encoded once per listener
//!   ([`Answers`]), and the close. (Tokio's accept has registered the
//!   socket with the reactor already; accepting without registering would
//!   need `unsafe` `AsyncFd::register`, not done.)
//! - after [`BATCH`] accepts in a row the loop yields, so a ready room
//!   tick waits for at most one batch.

use std::io::{Read, Write};

use socket2::SockRef;
use tokio::net::TcpStream;

use crate::net::limits::Refusal;
use crate::net::security_headers;

/// Accepts in a row before the accept loop yields to the shard's other
/// tasks (room ticks first among them).
pub const BATCH: u32 = 16;

/// Bytes of a refused client's request read (and dropped) before closing:
/// a request head that fits is read, so the close is a FIN rather than a
/// reset that could discard the answer at the client.
const DRAIN: usize = 2048;

/// The answers of refusals at accept, encoded once per listener.
pub struct Answers {
    per_ip: Box<[u8]>,
}

impl Answers {
    /// Encodes every answer.
    pub fn new() -> Answers {
        Answers {
            per_ip: encode_503(Refusal::PerIp),
        }
    }

    /// What a connection refused for `refusal` at accept is sent before it
    /// is closed: a 503 for the per-IP cap on plain HTTP; nothing (a plain
    /// close) for the node-wide caps, and over TLS, where an answer would
    /// cost the handshake the limit saves.
    pub fn for_refusal(&self, refusal: Refusal, tls: bool) -> Option<&[u8]> {
        match refusal {
            Refusal::PerIp if !tls => Some(&self.per_ip),
            _ => None,
        }
    }
}

impl Default for Answers {
    fn default() -> Self {
        Answers::new()
    }
}

/// Refuses an accepted socket: reads what the client has sent already
/// (once, without waiting), writes `answer` (once, without waiting) and
/// closes it. The socket is non-blocking; its calls go straight to the
/// kernel (the reactor has not seen it readable or writable yet).
pub fn refuse(tcp: TcpStream, answer: Option<&[u8]>) {
    if let Some(answer) = answer {
        let socket = SockRef::from(&tcp);
        let mut request = [0u8; DRAIN];
        // Nothing to learn from the request, and a client that has left
        // (or not written yet) changes nothing: both results are dropped.
        drop((&*socket).read(&mut request));
        drop((&*socket).write(answer));
    }
    drop(tcp);
}

/// The 503 of `refusal` with `Connection: close`, `Retry-After` and the
/// security headers every response carries: the same answer the HTTP
/// server gives ([`super::conn::refusal_response`]), in one write.
fn encode_503(refusal: Refusal) -> Box<[u8]> {
    let body = format!("{refusal} ({})\n", refusal.label());
    let mut head = format!(
        "HTTP/1.1 503 Service Unavailable\r\nretry-after: {}\r\nconnection: close\r\n\
         content-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\n",
        refusal.retry_after(),
        body.len()
    );
    for (name, value) in security_headers::HEADERS {
        head.push_str(name.as_str());
        head.push_str(": ");
        head.push_str(value);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    head.push_str(&body);
    head.into_bytes().into_boxed_slice()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_per_ip_answer_is_a_complete_503_with_retry_after_and_security_headers() {
        let answers = Answers::new();
        let answer = answers.for_refusal(Refusal::PerIp, false).unwrap();
        let text = std::str::from_utf8(answer).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503 "));
        assert!(head.contains("\r\nretry-after: 1\r\n"));
        assert!(head.contains("\r\nconnection: close\r\n"));
        assert!(head.contains("\r\nx-content-type-options: nosniff\r\n"));
        assert!(head.contains(&format!("\r\ncontent-length: {}\r\n", body.len())));
        assert!(body.contains("per_ip"));
    }

    #[test]
    fn node_wide_caps_and_tls_refusals_are_plain_closes() {
        let answers = Answers::new();
        assert!(answers.for_refusal(Refusal::PerIp, true).is_none());
        assert!(
            answers
                .for_refusal(Refusal::MaxConnections, false)
                .is_none()
        );
        assert!(
            answers
                .for_refusal(Refusal::HttpConnections, false)
                .is_none()
        );
    }
}
