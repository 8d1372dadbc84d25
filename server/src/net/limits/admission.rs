//! Admission on the public listener: the node-wide count of open
//! connections and of plain HTTP ones, per-IP connection counts and the
//! per-IP handshake buckets, shared by every shard. Each admitted
//! connection holds slot guards that give their place back when dropped,
//! so a count can neither leak nor go negative. The per-IP table holds an
//! entry only while that IP has an open connection, so it is bounded by
//! `--max-connections`; the handshake table by its own bound
//! ([`super::bucket::MAX_TRACKED_IPS`], past it `tracked_ips`).

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use metrics::{Gauge, counter, gauge};

use super::bucket::{BucketRefusal, IpBuckets};
use super::options::LimitOptions;
use crate::metrics as names;

/// Why a connection or an upgrade was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// `--max-connections` connections are open (closed at accept).
    #[error("the node is at --max-connections")]
    MaxConnections,
    /// `--max-http-connections` plain HTTP connections are open (closed at accept).
    #[error("the node is at --max-http-connections")]
    HttpConnections,
    /// The client IP holds `--max-connections-per-ip` connections (503).
    #[error("too many connections from this address")]
    PerIp,
    /// The client IP is over `--handshakes-per-ip-per-s`; retry after this
    /// many seconds (503 with `Retry-After`).
    #[error("too many WebSocket handshakes from this address")]
    HandshakeRate(u64),
    /// Too many client IPs are in the handshake table right now (503).
    #[error("too many client addresses")]
    TrackedIps,
    /// A trusted proxy's connection did not start with a valid PROXY header
    /// in time (closed).
    #[error("no valid PROXY protocol header")]
    ProxyHeader,
    /// `--dashboard-streams` dashboards are streaming (503, admin listener).
    #[error("too many dashboard streams")]
    DashboardStreams,
}

impl Refusal {
    /// Every label, in order (series registered at zero).
    pub const LABELS: [&'static str; 7] = [
        "max_connections",
        "http_connections",
        "per_ip",
        "handshake_rate",
        "tracked_ips",
        "proxy_header",
        "dashboard_streams",
    ];

    /// Stable label (metric `reason` of `tickforge_connections_refused_total`).
    pub fn label(self) -> &'static str {
        let i = match self {
            Refusal::MaxConnections => 0,
            Refusal::HttpConnections => 1,
            Refusal::PerIp => 2,
            Refusal::HandshakeRate(_) => 3,
            Refusal::TrackedIps => 4,
            Refusal::ProxyHeader => 5,
            Refusal::DashboardStreams => 6,
        };
        Self::LABELS[i]
    }

    /// Counts this refusal.
    pub fn count(self) {
        counter!(names::CONNECTIONS_REFUSED, "reason" => self.label()).increment(1);
    }

    /// Seconds a client should wait before trying again.
    pub fn retry_after(self) -> u64 {
        match self {
            Refusal::HandshakeRate(s) => s,
            _ => 1,
        }
    }
}

/// The limits in force (after the descriptor-limit check) and their counts.
pub struct Admission {
    max_connections: u32,
    max_http: u32,
    max_per_ip: u32,
    open: AtomicU32,
    http: AtomicU32,
    per_ip: DashMap<IpAddr, u32>,
    handshakes: Option<IpBuckets>,
    open_gauge: Gauge,
    http_gauge: Gauge,
}

impl Admission {
    /// Admission with `options` and a node-wide cap of `max_connections`
    /// (see [`super::fd::effective_max_connections`]).
    pub fn new(options: &LimitOptions, max_connections: u32) -> Arc<Admission> {
        let handshakes = (options.handshakes_per_ip_per_s > 0).then(|| {
            IpBuckets::new(
                f64::from(options.handshakes_per_ip_per_s),
                options.handshake_burst,
            )
        });
        gauge!(names::MAX_CONNECTIONS).set(f64::from(max_connections));
        let admission = Admission {
            max_connections,
            max_http: options.max_http_connections,
            max_per_ip: options.max_connections_per_ip,
            open: AtomicU32::new(0),
            http: AtomicU32::new(0),
            per_ip: DashMap::new(),
            handshakes,
            open_gauge: gauge!(names::PUBLIC_CONNECTIONS),
            http_gauge: gauge!(names::HTTP_CONNECTIONS),
        };
        admission.open_gauge.set(0.0);
        admission.http_gauge.set(0.0);
        Arc::new(admission)
    }

    /// The node-wide cap in force.
    pub fn max_connections(&self) -> u32 {
        self.max_connections
    }

    /// A place among the node's open connections and among its plain HTTP
    /// ones, taken at accept.
    pub fn open(self: &Arc<Self>) -> Result<(ConnSlot, HttpSlot), Refusal> {
        let conn = take(&self.open, self.max_connections)
            .map(|()| ConnSlot(self.clone()))
            .ok_or(Refusal::MaxConnections)?;
        self.open_gauge.increment(1.0);
        let http = take(&self.http, self.max_http)
            .map(|()| HttpSlot(self.clone()))
            .ok_or(Refusal::HttpConnections)?;
        self.http_gauge.increment(1.0);
        Ok((conn, http))
    }

    /// A place among `ip`'s connections.
    pub fn ip(self: &Arc<Self>, ip: IpAddr) -> Result<IpSlot, Refusal> {
        if self.max_per_ip == 0 {
            return Ok(IpSlot(None));
        }
        let ip = ip.to_canonical();
        match self.per_ip.entry(ip) {
            Entry::Occupied(mut e) => {
                if *e.get() >= self.max_per_ip {
                    return Err(Refusal::PerIp);
                }
                *e.get_mut() += 1;
            }
            Entry::Vacant(e) => {
                e.insert(1);
            }
        }
        Ok(IpSlot(Some((self.clone(), ip))))
    }

    /// One WebSocket handshake for `ip`.
    pub fn handshake(&self, ip: IpAddr) -> Result<(), Refusal> {
        match &self.handshakes {
            None => Ok(()),
            Some(buckets) => buckets.take(ip.to_canonical()).map_err(|e| match e {
                BucketRefusal::Rate(s) => Refusal::HandshakeRate(s),
                BucketRefusal::Busy => Refusal::TrackedIps,
            }),
        }
    }

    /// Open connections now (node-wide).
    pub fn open_connections(&self) -> u32 {
        self.open.load(Ordering::Relaxed)
    }
}

/// Takes one of `max` places in `count`, or none.
fn take(count: &AtomicU32, max: u32) -> Option<()> {
    count
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < max).then_some(n + 1)
        })
        .ok()
        .map(|_| ())
}

/// A place among the node's open connections; given back on drop.
pub struct ConnSlot(Arc<Admission>);

impl Drop for ConnSlot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
        self.0.open_gauge.decrement(1.0);
    }
}

/// A place among the node's plain HTTP connections; given back on drop
/// (when the connection closes or becomes a WebSocket session).
pub struct HttpSlot(Arc<Admission>);

impl Drop for HttpSlot {
    fn drop(&mut self) {
        self.0.http.fetch_sub(1, Ordering::AcqRel);
        self.0.http_gauge.decrement(1.0);
    }
}

/// A place among one IP's connections (none when the limit is off); given
/// back on drop, and the IP forgotten with its last connection.
pub struct IpSlot(Option<(Arc<Admission>, IpAddr)>);

impl IpSlot {
    /// A slot that counts nothing (the connection is counted elsewhere).
    pub fn none() -> IpSlot {
        IpSlot(None)
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        if let Some((admission, ip)) = self.0.take() {
            admission.per_ip.remove_if_mut(&ip, |_, n| {
                *n = n.saturating_sub(1);
                *n == 0
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(per_ip: u32, http: u32) -> LimitOptions {
        let mut o = crate::Config::defaults().limits;
        o.max_connections_per_ip = per_ip;
        o.max_http_connections = http;
        o
    }

    #[test]
    fn slots_are_given_back_when_dropped() {
        let admission = Admission::new(&options(2, 10), 3);
        let a = admission.open();
        let b = admission.open();
        let c = admission.open();
        assert!(a.is_ok() && b.is_ok() && c.is_ok());
        assert_eq!(admission.open().err(), Some(Refusal::MaxConnections));
        drop(a);
        let d = admission.open();
        assert!(d.is_ok());
        assert_eq!(admission.open_connections(), 3);
    }

    #[test]
    fn one_ip_holds_at_most_its_share_and_is_forgotten_with_its_last_connection() {
        let admission = Admission::new(&options(2, 10), 100);
        let ip = IpAddr::from([192, 0, 2, 1]);
        let first = admission.ip(ip);
        let second = admission.ip(ip);
        assert!(first.is_ok() && second.is_ok());
        assert_eq!(admission.ip(ip).err(), Some(Refusal::PerIp));
        assert!(admission.ip(IpAddr::from([192, 0, 2, 2])).is_ok());
        drop((first, second));
        assert!(admission.per_ip.is_empty());
    }
}
