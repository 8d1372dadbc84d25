//! # tickforge-benches
//!
//! Criterion micro-benchmarks live in `benches/` (codec, cross-shard handoff,
//! room tick); every measured figure is recorded in `RESULTS.md` with its
//! date, machine and command.
//!
//! The end-to-end capacity harness and the two programs it compares with:
//!
//! | binary | source | what it is |
//! |---|---|---|
//! | `baseline` | [`baseline`] + `src/bin/baseline.rs` | a deliberately ordinary server speaking the tickforge protocol and running the same `arena` game, to compare tickforge against in the same run |
//! | `capacity` | [`capacity`] + `src/bin/capacity.rs` | the harness: steps bot counts on one pinned server core for tickforge and the baseline, with the swarm on the other core, and reports the tables in `RESULTS.md` |
//! | `raw_writer` | `src/bin/raw_writer.rs` | the physical limit probe: one thread writing fixed-size frames round-robin to N loopback TCP sockets as fast as the kernel takes them |
//! | `soak` | [`soak`] + `src/bin/soak.rs` | issue #12's soak: honest `arena`, `churn` and `garbage` swarms with and without a slowloris and a connection flood from other loopback addresses; RSS drift, descriptors, rooms and seats back to zero, p99s compared |
//! | `large_rooms` | [`room_setup`] + `src/bin/large_rooms.rs` | issue #15: bytes per player per second and tick work of one room, full State against interest state (32-player arena, 256-player arena-large) |
//! | `presence` | [`probe`] + `src/bin/presence.rs` | cross-node presence over a real `redis-server`: one process publishes join/leave changes at a set rate, another applies them; publish → receive latency, applied events/s and each process's CPU |

pub mod baseline;
pub mod capacity;
pub mod probe;
pub mod room_setup;
pub mod soak;
