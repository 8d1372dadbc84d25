#!/usr/bin/env bash
# Runs every fuzz target of server/fuzz for a bounded time from a fixed
# seed: ops/fuzz.sh [SECONDS_PER_TARGET] [TARGET...] (default 20 s, every
# target). Installs the pinned cargo-fuzz with `cargo install` (into
# ~/.cargo/bin, kept between checkouts) unless that version is already
# there. libFuzzer on the stable toolchain: no sanitizer (the README's
# "Fuzzing" says why).
#
# The instrumented build (its own compiler flags, so nothing is shared with
# the workspace's target/) goes to $TICKFORGE_FUZZ_TARGET_DIR, by default
# ~/.cache/tickforge/fuzz-target: outside the checkout, so a fresh checkout
# on the same machine rebuilds only what changed.
#
# Each run starts from the committed corpus (server/fuzz/corpus/<target>/,
# read only) and the regression inputs, writes what it finds to
# target/fuzz/corpus/<target>/, and stops at the first failure; the failing
# input is left in server/fuzz/artifacts/<target>/ (copy it into
# server/fuzz/regressions/<target>/ once fixed).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

secs="${1:-20}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(client_frame arena_input snapshot_record session)
fi

version="0.13.2"
if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $version" ]; then
  echo "== installing cargo-fuzz $version (cargo install)"
  cargo install --locked --quiet "cargo-fuzz@$version"
fi
cargo_fuzz="$(command -v cargo-fuzz || echo "$HOME/.cargo/bin/cargo-fuzz")"
fuzz_target_dir="${TICKFORGE_FUZZ_TARGET_DIR:-$HOME/.cache/tickforge/fuzz-target}"
mkdir -p "$fuzz_target_dir"

# Release code with debug assertions and overflow checks (-a); the
# workspace's release profile is tuned for the server binary (thin LTO, one
# codegen unit), which fuzz builds do not need.
export CARGO_PROFILE_RELEASE_LTO=false
export CARGO_PROFILE_RELEASE_DEBUG=line-tables-only
fuzz=("$cargo_fuzz" fuzz)
build_args=(--fuzz-dir server/fuzz --sanitizer none --debug-assertions --features libfuzzer --target-dir "$fuzz_target_dir")

echo "== building the fuzz targets"
"${fuzz[@]}" build "${build_args[@]}"

for target in "${targets[@]}"; do
  echo "== fuzzing $target for ${secs}s (seed 1)"
  scratch="target/fuzz/corpus/$target"
  rm -rf "$scratch"
  mkdir -p "$scratch" "server/fuzz/regressions/$target"
  log="target/fuzz/$target.log"
  if ! "${fuzz[@]}" run "${build_args[@]}" "$target" \
      "$scratch" "server/fuzz/corpus/$target" "server/fuzz/regressions/$target" \
      -- -seed=1 -max_total_time="$secs" -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "fuzz target $target failed: the input is in server/fuzz/artifacts/$target/" >&2
    exit 1
  fi
  grep -E "^#[0-9]+[[:space:]]+(INITED|DONE)|^stat::(number_of_executed_units|average_exec_per_sec)" "$log"
done
echo "== fuzz targets passed"
