//! `SO_REUSEPORT` listeners: one per shard on the same address, so the
//! kernel spreads new connections over the shards' accept queues. And the
//! admin listener: one socket, not shared.

use std::io;
use std::net::{SocketAddr, TcpListener};

use socket2::{Domain, Protocol, Socket, Type};

/// Binds `count` listeners on `addr`. With port 0 the first one picks a free
/// port and the others share it. Returns the listeners and the bound address.
pub fn bind_shards(
    addr: SocketAddr,
    count: usize,
    backlog: u32,
) -> io::Result<(Vec<TcpListener>, SocketAddr)> {
    let first = bind_one(addr, backlog)?;
    let bound = first.local_addr()?;
    let mut listeners = vec![first];
    for _ in 1..count {
        listeners.push(bind_one(bound, backlog)?);
    }
    Ok((listeners, bound))
}

/// TCP listen backlog of the admin listener (a few operators and scrapers).
const ADMIN_BACKLOG: u32 = 128;

/// Binds the admin listener on `addr` (port 0 picks a free port), without
/// `SO_REUSEPORT`: no other process can share its port. Returns the listener
/// and the bound address.
pub fn bind_admin(addr: SocketAddr) -> io::Result<(TcpListener, SocketAddr)> {
    let listener = bind(addr, ADMIN_BACKLOG, false)?;
    let bound = listener.local_addr()?;
    Ok((listener, bound))
}

fn bind_one(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    bind(addr, backlog, true)
}

fn bind(addr: SocketAddr, backlog: u32, reuse_port: bool) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(reuse_port)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_share_one_port() {
        let (listeners, addr) = bind_shards(
            "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")),
            3,
            128,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(listeners.len(), 3);
        for l in &listeners {
            assert_eq!(l.local_addr().ok(), Some(addr));
        }
    }

    #[test]
    fn the_admin_port_is_not_shared() {
        let (_admin, addr) = bind_admin("127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(addr.port(), 0);
        assert!(bind_shards(addr, 1, 128).is_err());
        assert!(bind_admin(addr).is_err());
    }
}
