#!/usr/bin/env bash
# Runs every fuzz target of server/fuzz for a bounded time from a fixed
# seed: ops/fuzz.sh [SECONDS_PER_TARGET] [TARGET...] (default 20 s, every
# target). Installs the pinned cargo-fuzz into .tools/cargo-fuzz unless it
# (or the one in ~/.cargo/bin) is already that version. libFuzzer on the
# stable toolchain: no sanitizer (the README's "Fuzzing" says why).
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
cargo_fuzz="$root/.tools/cargo-fuzz/bin/cargo-fuzz"
if [ "$(cargo fuzz --version 2>/dev/null)" = "cargo-fuzz $version" ]; then
  cargo_fuzz="$(command -v cargo-fuzz)"
elif [ ! -x "$cargo_fuzz" ] || [ "$("$cargo_fuzz" --version)" != "cargo-fuzz $version" ]; then
  echo "== installing cargo-fuzz $version into .tools/cargo-fuzz"
  cargo install --locked --quiet --root "$root/.tools/cargo-fuzz" "cargo-fuzz@$version"
fi

# Release code with debug assertions and overflow checks (-a); the
# workspace's release profile is tuned for the server binary (thin LTO, one
# codegen unit), which fuzz builds do not need.
export CARGO_PROFILE_RELEASE_LTO=false
export CARGO_PROFILE_RELEASE_DEBUG=line-tables-only
fuzz=("$cargo_fuzz" fuzz)
build_args=(--fuzz-dir server/fuzz --sanitizer none --debug-assertions --features libfuzzer)

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
