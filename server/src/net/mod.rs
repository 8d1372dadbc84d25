//! The network edge: listeners, the HTTP router, WebSocket sessions and the
//! reasons a connection ends.

pub mod close;
pub mod cluster;
pub mod guest;
pub mod kick;
pub mod listener;
pub mod router;
pub mod session;
