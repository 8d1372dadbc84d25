//! Which IP address a request comes from: the one session logs name
//! (`client`) and the guest-login rate limit counts.
//!
//! It is the TCP peer's address (or, with `--proxy-protocol`, the address a
//! trusted proxy's PROXY header names), unless that is a trusted proxy
//! (`--trusted-proxies`: load balancers, the ingress). Then it is the
//! rightmost address of `X-Forwarded-For` that is not itself a trusted
//! proxy: each proxy appends the address it received the request from, so
//! everything left of the first untrusted hop was written by the client and
//! proves nothing. When every listed hop is trusted the leftmost one is the
//! client; an entry that is not an address ends the walk at the last hop
//! that could be vouched for. From any other peer the header changes
//! nothing.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::serve::conn::ConnMeta;
use crate::node::Node;

/// The header a proxy appends the address it received a request from to.
pub const FORWARDED_FOR: &str = "x-forwarded-for";

/// One `--trusted-proxies` entry: an address (`192.0.2.7`, a single host)
/// or a network (`10.0.0.0/8`, `fd00::/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProxyNet(pub IpNet);

impl ProxyNet {
    /// True when `ip` is in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.contains(&ip)
    }
}

impl FromStr for ProxyNet {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if let Ok(net) = s.parse::<IpNet>() {
            return Ok(ProxyNet(net.trunc()));
        }
        s.parse::<IpAddr>()
            .map(|ip| ProxyNet(IpNet::from(ip.to_canonical())))
            .map_err(|_| format!("`{s}` is neither an IP address nor a CIDR network"))
    }
}

impl TryFrom<String> for ProxyNet {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<ProxyNet> for String {
    fn from(net: ProxyNet) -> String {
        net.0.to_string()
    }
}

fn trusted(ip: IpAddr, proxies: &[ProxyNet]) -> bool {
    proxies.iter().any(|net| net.contains(ip))
}

/// One `X-Forwarded-For` entry as an address: `192.0.2.1`, `2001:db8::1`,
/// `[2001:db8::1]`, or any of them with a port. `None` for anything else
/// (`unknown`, obfuscated identifiers, garbage).
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    let ip = entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| {
            entry
                .strip_prefix('[')
                .and_then(|e| e.strip_suffix(']'))
                .and_then(|e| e.parse().ok())
        })?;
    Some(ip.to_canonical())
}

/// The client IP of a request from `peer` whose `X-Forwarded-For` entries,
/// left to right, are `forwarded`.
pub fn resolve<'a>(
    peer: IpAddr,
    forwarded: impl DoubleEndedIterator<Item = &'a str>,
    proxies: &[ProxyNet],
) -> IpAddr {
    let mut client = peer.to_canonical();
    if !trusted(client, proxies) {
        return client;
    }
    for entry in forwarded.rev() {
        let Some(hop) = parse_entry(entry) else {
            break;
        };
        client = hop;
        if !trusted(hop, proxies) {
            break;
        }
    }
    client
}

/// [`resolve`] over the request's headers (every `X-Forwarded-For` line,
/// in order; a line that is not text counts as one unreadable entry).
pub fn from_headers(peer: IpAddr, headers: &HeaderMap, proxies: &[ProxyNet]) -> IpAddr {
    if proxies.is_empty() {
        return peer.to_canonical();
    }
    let entries: Vec<&str> = headers
        .get_all(FORWARDED_FOR)
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("\u{fffd}").split(','))
        .collect();
    resolve(peer, entries.into_iter(), proxies)
}

/// Extractor: the request's client IP, by the node's `--trusted-proxies`.
/// Needs the peer address (`into_make_service_with_connect_info::<SocketAddr>()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl<S> FromRequestParts<S> for ClientIp
where
    Arc<Node>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else {
            return Err((StatusCode::INTERNAL_SERVER_ERROR, "no peer address"));
        };
        // A PROXY protocol header (from a trusted proxy) stands in for the
        // TCP peer.
        let peer = parts
            .extensions
            .get::<ConnMeta>()
            .and_then(|conn| conn.0.proxied)
            .unwrap_or(peer.ip());
        let node = Arc::<Node>::from_ref(state);
        Ok(ClientIp(from_headers(
            peer,
            &parts.headers,
            &node.config.net.trusted_proxies,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn proxies(list: &[&str]) -> Vec<ProxyNet> {
        list.iter()
            .map(|s| s.parse().unwrap_or_else(|e| panic!("{e}")))
            .collect()
    }

    fn client(peer: &str, xff: &str, trusted: &[&str]) -> IpAddr {
        let entries: Vec<&str> = if xff.is_empty() {
            Vec::new()
        } else {
            xff.split(',').collect()
        };
        resolve(ip(peer), entries.into_iter(), &proxies(trusted))
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        assert_eq!(
            client("203.0.113.9", "198.51.100.1", &[]),
            ip("203.0.113.9")
        );
        assert_eq!(
            client("203.0.113.9", "198.51.100.1", &["10.0.0.0/8"]),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn a_trusted_peer_hands_over_to_the_rightmost_untrusted_hop() {
        let trusted = ["10.0.0.0/8", "192.0.2.7"];
        assert_eq!(
            client("10.1.2.3", "198.51.100.1", &trusted),
            ip("198.51.100.1")
        );
        // The client wrote the leftmost entries itself: they prove nothing.
        assert_eq!(
            client("10.1.2.3", "1.1.1.1, 198.51.100.1, 192.0.2.7", &trusted),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn a_trusted_peer_without_the_header_is_the_client() {
        assert_eq!(client("10.1.2.3", "", &["10.0.0.0/8"]), ip("10.1.2.3"));
    }

    #[test]
    fn when_every_hop_is_trusted_the_leftmost_is_the_client() {
        assert_eq!(
            client("10.1.2.3", "10.9.9.9, 10.0.0.2", &["10.0.0.0/8"]),
            ip("10.9.9.9")
        );
    }

    #[test]
    fn garbage_ends_the_walk_at_the_last_hop_vouched_for() {
        let trusted = ["10.0.0.0/8"];
        assert_eq!(
            client("10.1.2.3", "198.51.100.1, unknown", &trusted),
            ip("10.1.2.3")
        );
        assert_eq!(
            client("10.1.2.3", "unknown, 10.0.0.5", &trusted),
            ip("10.0.0.5")
        );
    }

    #[test]
    fn entries_may_carry_ports_brackets_and_mapped_addresses() {
        let trusted = ["127.0.0.1"];
        assert_eq!(
            client("127.0.0.1", "198.51.100.1:4711", &trusted),
            ip("198.51.100.1")
        );
        assert_eq!(
            client("127.0.0.1", "[2001:db8::1]:443", &trusted),
            ip("2001:db8::1")
        );
        assert_eq!(
            client("127.0.0.1", " [2001:db8::2] ", &trusted),
            ip("2001:db8::2")
        );
        // A dual-stack listener sees IPv4 peers as ::ffff:a.b.c.d.
        assert_eq!(
            client("::ffff:127.0.0.1", "::ffff:198.51.100.1", &trusted),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn every_forwarded_for_line_counts_in_order() {
        let mut headers = HeaderMap::new();
        headers.append(
            FORWARDED_FOR,
            "1.1.1.1, 198.51.100.1"
                .parse()
                .unwrap_or_else(|e| panic!("{e}")),
        );
        headers.append(
            FORWARDED_FOR,
            "10.0.0.2".parse().unwrap_or_else(|e| panic!("{e}")),
        );
        let trusted = proxies(&["10.0.0.0/8"]);
        assert_eq!(
            from_headers(ip("10.0.0.1"), &headers, &trusted),
            ip("198.51.100.1")
        );
        assert_eq!(from_headers(ip("10.0.0.1"), &headers, &[]), ip("10.0.0.1"));
    }

    #[test]
    fn proxy_entries_are_addresses_or_networks() {
        let net: ProxyNet = "10.1.2.3/8".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(String::from(net), "10.0.0.0/8");
        let host: ProxyNet = "192.0.2.7".parse().unwrap_or_else(|e| panic!("{e}"));
        assert!(host.contains(ip("192.0.2.7")));
        assert!(!host.contains(ip("192.0.2.8")));
        assert!("example.com".parse::<ProxyNet>().is_err());
        assert!("10.0.0.0/33".parse::<ProxyNet>().is_err());
    }
}
