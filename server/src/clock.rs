//! Wall-clock time in the protocol's unit (microseconds since the UNIX
//! epoch). Only the network edge and rooms read it; game code never does.

pub use tickforge_protocol::client::now_micros;
