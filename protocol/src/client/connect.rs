//! Opening the WebSocket: resolving and dialling the URL's host (socket
//! options from [`ConnectOptions`]), TLS for `wss://` URLs ([`super::tls`]),
//! and the upgrade offering the `tickforge.v1` subprotocol.

use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use super::{Client, ClientError, ConnectOptions, tls};
use crate::{SUBPROTOCOL, SUBPROTOCOL_V2};

/// The WebSocket of a client: over TCP (`ws://`) or TLS over TCP (`wss://`).
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How a URL is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    /// `host:port` to resolve and dial.
    address: String,
    /// `wss://`: TLS before the upgrade.
    tls: bool,
}

/// Splits `ws://host[:port]/path` or `wss://…` into the address to dial
/// (ports default to 80 and 443) and whether TLS comes first.
fn target(url: &str) -> Result<Target, ClientError> {
    let (rest, tls, default_port) = if let Some(rest) = url.strip_prefix("ws://") {
        (rest, false, 80)
    } else if let Some(rest) = url.strip_prefix("wss://") {
        (rest, true, 443)
    } else {
        return Err(ClientError::Url(format!(
            "{url}: only ws:// and wss:// are supported"
        )));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() {
        return Err(ClientError::Url(format!("{url}: no host")));
    }
    // The port follows the last ':', unless that ':' is inside an IPv6 literal (`[::1]`).
    let has_port = authority
        .rfind(':')
        .is_some_and(|colon| !authority[colon..].contains(']'));
    let address = if has_port {
        authority.to_string()
    } else {
        format!("{authority}:{default_port}")
    };
    Ok(Target { address, tls })
}

/// Builds the upgrade request for `url` offering the tickforge subprotocol.
pub fn upgrade_request(url: &str) -> Result<Request, ClientError> {
    upgrade_request_offering(url, false)
}

/// [`upgrade_request`], offering `tickforge.v2` first when `interest`.
pub fn upgrade_request_offering(url: &str, interest: bool) -> Result<Request, ClientError> {
    let mut request = url.into_client_request()?;
    let offer = if interest {
        HeaderValue::from_static(V2_OFFER)
    } else {
        HeaderValue::from_static(SUBPROTOCOL)
    };
    request
        .headers_mut()
        .insert("sec-websocket-protocol", offer);
    Ok(request)
}

/// What a client that takes interest state offers.
const V2_OFFER: &str = "tickforge.v2, tickforge.v1";

impl Client {
    /// Opens the WebSocket (TLS first for `wss://`, subprotocol negotiated)
    /// without saying Hello. Useful for tests and tools that speak the
    /// protocol frame by frame.
    pub async fn open(url: &str, options: &ConnectOptions) -> Result<Socket, ClientError> {
        let target = target(url)?;
        // Set up before dialling: a bad trust store fails without a connection.
        let connector = if target.tls {
            Connector::Rustls(tls::client_config(options)?)
        } else {
            Connector::Plain
        };
        let mut last_error = None;
        let mut connected = None;
        for addr in tokio::net::lookup_host(&target.address).await? {
            match dial(addr, options).await {
                Ok(stream) => {
                    connected = Some(stream);
                    break;
                }
                Err(e) => last_error = Some(e),
            }
        }
        let stream = match (connected, last_error) {
            (Some(stream), _) => stream,
            (None, Some(e)) => return Err(e.into()),
            (None, None) => return Err(ClientError::Url(format!("{url}: host did not resolve"))),
        };
        let config = WebSocketConfig::default()
            .read_buffer_size(options.read_buffer_bytes)
            .write_buffer_size(0)
            .max_message_size(Some(options.max_frame_bytes))
            .max_frame_size(Some(options.max_frame_bytes));
        let (ws, response) = tokio_tungstenite::client_async_tls_with_config(
            upgrade_request_offering(url, options.interest)?,
            stream,
            Some(config),
            Some(connector),
        )
        .await?;
        let selected = response.headers().get("sec-websocket-protocol");
        let accepted = |p: &str| selected.map(|v| v.as_bytes()) == Some(p.as_bytes());
        if !(accepted(SUBPROTOCOL) || options.interest && accepted(SUBPROTOCOL_V2)) {
            return Err(ClientError::Subprotocol);
        }
        Ok(ws)
    }
}

async fn dial(addr: std::net::SocketAddr, options: &ConnectOptions) -> std::io::Result<TcpStream> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(bytes) = options.recv_buffer_bytes {
        socket.set_recv_buffer_size(bytes)?;
    }
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::{Target, target};

    fn dial(url: &str) -> Option<(String, bool)> {
        target(url)
            .ok()
            .map(|Target { address, tls }| (address, tls))
    }

    #[test]
    fn ws_urls_keep_an_explicit_port_and_default_to_80() {
        assert_eq!(
            dial("ws://127.0.0.1:7700/ws"),
            Some(("127.0.0.1:7700".into(), false))
        );
        assert_eq!(
            dial("ws://localhost/ws"),
            Some(("localhost:80".into(), false))
        );
        assert_eq!(
            dial("ws://localhost:7700?room=1"),
            Some(("localhost:7700".into(), false))
        );
        assert_eq!(
            dial("ws://[::1]:7700/ws"),
            Some(("[::1]:7700".into(), false))
        );
        assert_eq!(dial("ws://[::1]/ws"), Some(("[::1]:80".into(), false)));
    }

    #[test]
    fn wss_urls_speak_tls_and_default_to_443() {
        assert_eq!(
            dial("wss://game.example.com/ws"),
            Some(("game.example.com:443".into(), true))
        );
        assert_eq!(
            dial("wss://127.0.0.1:7700/ws"),
            Some(("127.0.0.1:7700".into(), true))
        );
        assert_eq!(dial("wss://[::1]/ws"), Some(("[::1]:443".into(), true)));
    }

    #[test]
    fn other_schemes_and_missing_hosts_are_refused() {
        assert!(target("http://example.com/ws").is_err());
        assert!(target("ws:///ws").is_err());
        assert!(target("wss://").is_err());
    }
}
