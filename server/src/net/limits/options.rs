//! `LimitOptions`: the public listener's connection limits and HTTP
//! timeouts, with their defaults (each fits loopback testing; a limit set
//! to 0 is off where its doc says so).

use std::time::Duration;

use clap::Args;
use serde::{Deserialize, Serialize};

/// Connection limits, HTTP timeouts and the bounds of the operators' views.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
pub struct LimitOptions {
    /// Open connections on the public listener, node-wide (WebSocket
    /// sessions and plain HTTP alike), checked at accept: past it a new
    /// connection is closed at once, without an answer. 0 (default): the
    /// process's file-descriptor limit (`RLIMIT_NOFILE`, raised to its hard
    /// limit at start) minus `--fd-reserve`. A larger value is lowered to
    /// that, with a warning in the log.
    #[arg(long, env = "TICKFORGE_MAX_CONNECTIONS", default_value_t = 0)]
    pub max_connections: u32,
    /// File descriptors kept out of `--max-connections` for everything else
    /// the node opens (listeners, runtimes, the snapshot store, Redis and
    /// CQL connections, admin requests).
    #[arg(long, env = "TICKFORGE_FD_RESERVE", default_value_t = 128)]
    pub fd_reserve: u32,
    /// Open connections one client IP may hold on the public listener;
    /// past it: HTTP 503 (over TLS: closed before the handshake). 0: no limit.
    #[arg(long, env = "TICKFORGE_MAX_CONNECTIONS_PER_IP", default_value_t = 256)]
    pub max_connections_per_ip: u32,
    /// WebSocket upgrades (`/ws`) one client IP may start per second, on
    /// average (token bucket); past it: HTTP 503 with `Retry-After`.
    /// 0: no limit.
    #[arg(long, env = "TICKFORGE_HANDSHAKES_PER_IP_PER_S", default_value_t = 50)]
    pub handshakes_per_ip_per_s: u32,
    /// Burst of the per-IP handshake bucket: upgrades one IP may start at
    /// once before `--handshakes-per-ip-per-s` applies.
    #[arg(long, env = "TICKFORGE_HANDSHAKE_BURST", default_value_t = 200)]
    pub handshake_burst: u32,
    /// Connections on the public listener that are plain HTTP (not, or not
    /// yet, a WebSocket session), node-wide; past it a new connection is
    /// closed at accept without an answer.
    #[arg(long, env = "TICKFORGE_MAX_HTTP_CONNECTIONS", default_value_t = 2048)]
    pub max_http_connections: u32,
    /// Time a client has to send a request's whole head (request line and
    /// headers), in milliseconds, counted from the connection's start or
    /// from the previous answer; slower ones are closed.
    #[arg(
        long,
        env = "TICKFORGE_HTTP_HEADER_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub http_header_timeout_ms: u64,
    /// A plain HTTP connection silent this long after an answer is closed,
    /// in milliseconds (never later than the header timeout).
    #[arg(
        long,
        env = "TICKFORGE_HTTP_KEEPALIVE_TIMEOUT_MS",
        default_value_t = 5_000
    )]
    pub http_keepalive_timeout_ms: u64,
    /// A connection that asks for a WebSocket must be one this long after
    /// it was accepted (PROXY header, TLS handshake, request and upgrade
    /// included), in milliseconds; else it is closed.
    #[arg(long, env = "TICKFORGE_UPGRADE_TIMEOUT_MS", default_value_t = 15_000)]
    pub upgrade_timeout_ms: u64,
    /// Connections from `--trusted-proxies` start with a PROXY protocol
    /// header (v1 or v2) naming the client; other peers' connections are
    /// read as they are.
    #[arg(long, env = "TICKFORGE_PROXY_PROTOCOL", default_value_t = false, action = clap::ArgAction::Set)]
    pub proxy_protocol: bool,
    /// Time a trusted proxy has to send the PROXY header, in milliseconds.
    #[arg(
        long,
        env = "TICKFORGE_PROXY_HEADER_TIMEOUT_MS",
        default_value_t = 5_000
    )]
    pub proxy_header_timeout_ms: u64,
    /// Live `/dashboard/stream` subscribers (admin listener); past it: 503.
    #[arg(long, env = "TICKFORGE_DASHBOARD_STREAMS", default_value_t = 16)]
    pub dashboard_streams: u32,
    /// The public `/rooms` and the admin `/rooms?scope=cluster` are built at
    /// most this often, in milliseconds; a request waits for the next build
    /// when the last one is older than the request, so an answer never
    /// predates its request.
    #[arg(long, env = "TICKFORGE_ROOMS_REFRESH_MS", default_value_t = 250)]
    pub rooms_refresh_ms: u64,
}

impl LimitOptions {
    /// Header read timeout.
    pub fn header_timeout(&self) -> Duration {
        Duration::from_millis(self.http_header_timeout_ms.max(1))
    }
    /// Keep-alive idle timeout.
    pub fn keepalive_timeout(&self) -> Duration {
        Duration::from_millis(self.http_keepalive_timeout_ms.max(1))
    }
    /// Upgrade deadline, from accept.
    pub fn upgrade_timeout(&self) -> Duration {
        Duration::from_millis(self.upgrade_timeout_ms.max(1))
    }
    /// PROXY header deadline.
    pub fn proxy_header_timeout(&self) -> Duration {
        Duration::from_millis(self.proxy_header_timeout_ms.max(1))
    }
    /// Minimum time between two builds of a room list.
    pub fn rooms_refresh(&self) -> Duration {
        Duration::from_millis(self.rooms_refresh_ms)
    }

    /// A value out of range, if any.
    pub fn problem(&self) -> Option<&'static str> {
        if self.max_http_connections == 0 {
            return Some("--max-http-connections must be positive");
        }
        if self.handshakes_per_ip_per_s > 0 && self.handshake_burst == 0 {
            return Some(
                "--handshake-burst must be positive while --handshakes-per-ip-per-s is on",
            );
        }
        if self.http_header_timeout_ms == 0
            || self.http_keepalive_timeout_ms == 0
            || self.upgrade_timeout_ms == 0
            || self.proxy_header_timeout_ms == 0
        {
            return Some("HTTP, upgrade and PROXY header timeouts must be positive");
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use crate::Config;

    #[test]
    fn a_config_file_sets_every_limit_and_flags_win() {
        let dir = std::env::temp_dir().join(format!("tickforge-limits-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let path = dir.join("tickforge.toml");
        std::fs::write(
            &path,
            "max_connections = 500\nfd_reserve = 64\nmax_connections_per_ip = 8\n\
             handshakes_per_ip_per_s = 5\nhandshake_burst = 10\nmax_http_connections = 100\n\
             http_header_timeout_ms = 2000\nhttp_keepalive_timeout_ms = 1000\n\
             upgrade_timeout_ms = 3000\nproxy_protocol = true\nproxy_header_timeout_ms = 500\n\
             dashboard_streams = 4\nrooms_refresh_ms = 100\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let p = path.to_string_lossy().to_string();
        let c = Config::load_from(["tickforge", "--config", &p, "--max-connections-per-ip", "0"])
            .unwrap_or_else(|e| panic!("{e}"));
        let l = &c.limits;
        assert_eq!((l.max_connections, l.fd_reserve), (500, 64));
        assert_eq!(l.max_connections_per_ip, 0);
        assert_eq!((l.handshakes_per_ip_per_s, l.handshake_burst), (5, 10));
        assert_eq!(l.max_http_connections, 100);
        assert_eq!(
            (
                l.http_header_timeout_ms,
                l.http_keepalive_timeout_ms,
                l.upgrade_timeout_ms
            ),
            (2000, 1000, 3000)
        );
        assert!(l.proxy_protocol);
        assert_eq!(l.proxy_header_timeout_ms, 500);
        assert_eq!((l.dashboard_streams, l.rooms_refresh_ms), (4, 100));
        std::fs::write(&path, "http_header_timeout_ms = 0\n").unwrap_or_else(|e| panic!("{e}"));
        assert!(Config::load_from(["tickforge", "--config", &p]).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }
}
