//! The WebSocket opening handshake, done by hand over a TCP stream: the
//! target of a `ws://` URL, the HTTP/1.1 upgrade request offering the
//! `tickforge.v1` subprotocol, and the checks on the server's answer
//! (`101`, `Sec-WebSocket-Accept`, the selected subprotocol).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha1::{Digest, Sha1};
use tickforge_protocol::{SUBPROTOCOL, SUBPROTOCOL_V2};

use crate::rng::Rng;

/// GUID appended to the key before hashing (RFC 6455 §1.3).
const ACCEPT_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// Longest response head accepted.
pub const MAX_RESPONSE_HEAD: usize = 8 * 1024;

/// Why a handshake failed. [`HandshakeError::label`] is stable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// The URL is not a usable `ws://` URL.
    #[error("invalid url {0}")]
    Url(String),
    /// The server answered with another status than 101.
    #[error("upgrade refused: {0}")]
    Status(String),
    /// The server did not select `tickforge.v1`.
    #[error("server did not select the subprotocol {SUBPROTOCOL}")]
    Subprotocol,
    /// `Sec-WebSocket-Accept` is missing or wrong.
    #[error("wrong Sec-WebSocket-Accept")]
    Accept,
    /// The response is not HTTP, or its head is too long.
    #[error("malformed upgrade response")]
    Malformed,
    /// The connection closed during the handshake.
    #[error("connection closed during the upgrade")]
    Closed,
}

impl HandshakeError {
    /// Stable label for reports.
    pub fn label(&self) -> &'static str {
        match self {
            HandshakeError::Url(_) => "bad_url",
            HandshakeError::Status(_) => "upgrade_refused",
            HandshakeError::Subprotocol => "no_subprotocol",
            HandshakeError::Accept => "bad_accept",
            HandshakeError::Malformed => "malformed_response",
            HandshakeError::Closed => "closed_during_upgrade",
        }
    }
}

/// Where a `ws://` URL points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `host:port` to connect to (port 80 when the URL has none).
    pub dial: String,
    /// The `Host` header: the URL's authority as written.
    pub host: String,
    /// Path and query of the request (`/` when the URL has none).
    pub path: String,
    /// Offer `tickforge.v2` first (interest state in replicating modes).
    pub interest: bool,
}

impl Target {
    /// Parses `ws://host[:port][/path][?query]`.
    pub fn parse(url: &str) -> Result<Target, HandshakeError> {
        let bad = || HandshakeError::Url(url.to_string());
        let rest = url.strip_prefix("ws://").ok_or_else(bad)?;
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        let path = path.split('#').next().unwrap_or_default();
        if authority.is_empty() || authority.contains('@') {
            return Err(bad());
        }
        // The port follows the last ':' unless it is inside an IPv6 literal.
        let has_port = authority
            .rfind(':')
            .is_some_and(|colon| !authority[colon..].contains(']'));
        let dial = if has_port {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        let path = match path {
            "" => "/".to_string(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_string(),
        };
        Ok(Target {
            dial,
            host: authority.to_string(),
            path,
            interest: false,
        })
    }
}

/// A fresh `Sec-WebSocket-Key`: 16 random bytes, base64.
pub fn new_key(rng: &mut Rng) -> String {
    let mut nonce = [0u8; 16];
    rng.fill(&mut nonce);
    BASE64.encode(nonce)
}

/// The `Sec-WebSocket-Accept` a server must answer `key` with.
pub fn accept_for(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(ACCEPT_GUID.as_bytes());
    BASE64.encode(sha.finalize())
}

/// What a bot that takes interest state offers (v2 preferred).
const V2_OFFER: &str = "tickforge.v2, tickforge.v1";

/// The upgrade request for `target` with `key`.
pub fn request(target: &Target, key: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\n\
         Host: {host}\r\n\
         Upgrade: websocket\r\n\
         Connection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\n\
         Sec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: {offer}\r\n\
         User-Agent: tickforge-swarm/{version}\r\n\r\n",
        path = target.path,
        host = target.host,
        version = env!("CARGO_PKG_VERSION"),
        offer = if target.interest {
            V2_OFFER
        } else {
            SUBPROTOCOL
        },
    )
}

/// Length of the response head (through the blank line), once `buf` holds it.
pub fn head_len(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Checks a response head (status line and headers) against `key`.
pub fn check_response(head: &[u8], key: &str) -> Result<(), HandshakeError> {
    let text = std::str::from_utf8(head).map_err(|_| HandshakeError::Malformed)?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    if !parts.next().is_some_and(|v| v.starts_with("HTTP/1.")) {
        return Err(HandshakeError::Malformed);
    }
    let status = parts.next().unwrap_or_default();
    if status != "101" {
        return Err(HandshakeError::Status(status_line.to_string()));
    }
    let mut accept_ok = false;
    let mut protocol_ok = false;
    let mut upgrade_ok = false;
    for line in lines.filter(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            return Err(HandshakeError::Malformed);
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "sec-websocket-accept" => accept_ok = value == accept_for(key),
            "sec-websocket-protocol" => {
                protocol_ok = value == SUBPROTOCOL || value == SUBPROTOCOL_V2;
            }
            "upgrade" => upgrade_ok = value.eq_ignore_ascii_case("websocket"),
            _ => {}
        }
    }
    if !upgrade_ok {
        return Err(HandshakeError::Malformed);
    }
    if !accept_ok {
        return Err(HandshakeError::Accept);
    }
    if !protocol_ok {
        return Err(HandshakeError::Subprotocol);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accept_value_matches_the_rfc_example() {
        assert_eq!(
            accept_for("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn urls_give_the_dial_address_host_header_and_path() {
        let t = Target::parse("ws://127.0.0.1:7700/ws").ok();
        assert_eq!(
            t,
            Some(Target {
                dial: "127.0.0.1:7700".into(),
                host: "127.0.0.1:7700".into(),
                path: "/ws".into(),
                interest: false,
            })
        );
        let t = Target::parse("ws://localhost?x=1").ok();
        assert_eq!(
            t.map(|t| (t.dial, t.path)),
            Some(("localhost:80".into(), "/?x=1".into()))
        );
        let t = Target::parse("ws://[::1]/ws").ok();
        assert_eq!(t.map(|t| t.dial), Some("[::1]:80".into()));
        assert!(Target::parse("wss://example.com/ws").is_err());
        assert!(Target::parse("ws:///ws").is_err());
    }

    #[test]
    fn a_101_with_the_right_accept_and_protocol_passes_and_others_fail() {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let good = "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\
                    sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nsec-websocket-protocol: tickforge.v1\r\n\r\n";
        assert_eq!(check_response(good.as_bytes(), key), Ok(()));
        let no_protocol = good.replace("sec-websocket-protocol: tickforge.v1\r\n", "");
        assert_eq!(
            check_response(no_protocol.as_bytes(), key),
            Err(HandshakeError::Subprotocol)
        );
        let wrong_accept = good.replace("s3pP", "AAAA");
        assert_eq!(
            check_response(wrong_accept.as_bytes(), key),
            Err(HandshakeError::Accept)
        );
        let refused = "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n";
        assert!(matches!(
            check_response(refused.as_bytes(), key),
            Err(HandshakeError::Status(_))
        ));
        assert_eq!(
            check_response(b"SSH-2.0\r\n\r\n", key),
            Err(HandshakeError::Malformed)
        );
        assert_eq!(head_len(good.as_bytes()), Some(good.len()));
        assert_eq!(head_len(b"HTTP/1.1 101\r\n"), None);
    }
}
