#!/usr/bin/env bash
# Measures what the bot swarm costs next to the server it drives.
#
# Starts a release server pinned to core 0 (one shard) and, for each bot
# count given, a release swarm pinned to core 1 for SECS seconds at HZ
# inputs per second per bot. Samples both processes' CPU time from
# /proc/<pid>/stat over the steady part of the measured window (from 3 s
# after the ramp to 2 s before the end) and the swarm's RSS at the end of
# that span. Prints one Markdown table row per bot count.
#
#   sim-clients/scripts/swarm-cost.sh 500 1000 2000
#   SECS=20 HZ=10 PORT=7800 sim-clients/scripts/swarm-cost.sh 1000
set -euo pipefail
cd "$(dirname "$0")/../.."

SECS=${SECS:-20}
HZ=${HZ:-10}
PORT=${PORT:-7800}
RAMP=${RAMP:-1000}
OUT=${OUT:-/tmp/tickforge-swarm-cost}
mkdir -p "$OUT"

cargo build --release -q -p tickforge-server --bin tickforge
cargo build --release -q -p tickforge-swarm --bin tickforge-swarm
SERVER=target/release/tickforge
SWARM=target/release/tickforge-swarm
TCK=$(getconf CLK_TCK)

taskset -c 0 "$SERVER" --listen "127.0.0.1:$PORT" --admin-listen 127.0.0.1:0 --shards 1 --log warn >"$OUT/server.log" 2>&1 &
SERVER_PID=$!
trap 'kill "$SERVER_PID" 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done

# CPU ticks (utime + stime) of a process.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# A /proc/<pid>/status field in kB.
status_kb() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; }

echo "| bots | swarm CPU % | server CPU % | swarm RSS MiB | swarm RSS KiB/bot | bots per swarm core | states/s | ack p99 ms | errors |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for BOTS in "$@"; do
  JSON="$OUT/report-$BOTS.json"
  taskset -c 1 "$SWARM" --url "ws://127.0.0.1:$PORT/ws" --bots "$BOTS" --ramp "$RAMP" \
    --input-hz "$HZ" --duration "${SECS}s" --quiet --json "$JSON" >"$OUT/table-$BOTS.txt" 2>&1 &
  SWARM_PID=$!
  RAMP_S=$(awk -v b="$BOTS" -v r="$RAMP" 'BEGIN { printf "%.1f", b / r }')
  sleep "$(awk -v r="$RAMP_S" 'BEGIN { print r + 3 }')"
  T0=$(date +%s.%N); W0=$(ticks "$SWARM_PID"); S0=$(ticks "$SERVER_PID")
  sleep $((SECS - 5))
  T1=$(date +%s.%N); W1=$(ticks "$SWARM_PID"); S1=$(ticks "$SERVER_PID")
  RSS=$(status_kb "$SWARM_PID" VmRSS)
  wait "$SWARM_PID" || true
  python3 - "$JSON" "$BOTS" "$T0" "$T1" "$W0" "$W1" "$S0" "$S1" "$RSS" "$TCK" <<'PY'
import json, sys
path, bots, t0, t1, w0, w1, s0, s1, rss, tck = sys.argv[1:]
bots, secs, tck = int(bots), float(t1) - float(t0), int(tck)
swarm = (int(w1) - int(w0)) / tck / secs * 100
server = (int(s1) - int(s0)) / tck / secs * 100
r = json.load(open(path))
w = r["messages"]["window"]
print(f"| {bots} | {swarm:.1f} | {server:.1f} | {int(rss) / 1024:.1f} | {int(rss) / bots:.1f} | "
      f"{bots / (swarm / 100):.0f} | {w['states_in'] / w['seconds']:.0f} | "
      f"{r['latency']['ack']['p99_ms']:.2f} | {r['errors']['total']} |")
PY
  sleep 2
done
