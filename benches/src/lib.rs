//! # tickforge-benches
//!
//! Criterion micro-benchmarks live in `benches/` (codec, cross-shard handoff,
//! room tick); every measured figure is recorded in `RESULTS.md` with its
//! date, machine and command.
