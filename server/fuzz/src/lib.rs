//! # tickforge-fuzz
//!
//! Coverage-guided fuzz targets for the code that reads what clients and
//! disks hand the server. Each target is a plain function over the input
//! bytes that panics when an invariant breaks; `fuzz_targets/` wraps each
//! one in a libFuzzer entry point (`cargo fuzz`, feature `libfuzzer`), and
//! `tests/replay.rs` runs the committed corpora and regression inputs
//! through the same functions under `cargo test`.
//!
//! | module | target | reads |
//! |---|---|---|
//! | [`client_frame`] | `client_frame` | a client frame through the verifier and every accessor |
//! | [`arena_input`] | `arena_input` | an `Input.payload` and an `ArenaSave` through the arena game |
//! | [`snapshot_record`] | `snapshot_record` | stored snapshot values, spill records and their heads |
//! | [`session`] | `session` | a script of connections and frames through the real session loop and rooms |
//!
//! Corpora live in `corpus/<target>/` (seeded from `protocol/vectors/`),
//! inputs that once failed in `regressions/<target>/`.

pub mod arena_input;
pub mod client_frame;
pub mod session;
pub mod snapshot_record;

/// A fuzz target: panics when an input breaks one of its invariants.
pub type Target = fn(&[u8]);

/// The fuzz targets by name, as `cargo fuzz` and the corpus directories
/// name them.
pub const TARGETS: [(&str, Target); 4] = [
    ("client_frame", client_frame::run),
    ("arena_input", arena_input::run),
    ("snapshot_record", snapshot_record::run),
    ("session", session::run),
];
