//! `cargo test` replays every committed input of every fuzz target: the
//! corpus (`corpus/<target>/`) and every input that ever failed
//! (`regressions/<target>/`). The targets are deterministic functions of
//! their input, so a replay fails exactly when the fuzzer's run would.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

/// The files under `dir`, sorted; none when it does not exist.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn replay(name: &str) {
    let (_, target) = tickforge_fuzz::TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no target {name}"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let corpus = inputs(&root.join("corpus").join(name));
    assert!(!corpus.is_empty(), "corpus/{name}/ is empty");
    let regressions = inputs(&root.join("regressions").join(name));
    for file in corpus.iter().chain(&regressions) {
        let data = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| target(&data))) {
            eprintln!("{name}: {} fails", file.display());
            std::panic::resume_unwind(panic);
        }
    }
}

#[test]
fn every_client_frame_input_replays_cleanly() {
    replay("client_frame");
}

#[test]
fn every_arena_input_input_replays_cleanly() {
    replay("arena_input");
}

#[test]
fn every_snapshot_record_input_replays_cleanly() {
    replay("snapshot_record");
}

#[test]
fn every_session_input_replays_cleanly() {
    replay("session");
}
