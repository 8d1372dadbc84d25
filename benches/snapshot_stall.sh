#!/usr/bin/env bash
# Tick work p99 with the snapshot store reachable versus stalled.
#
# Runs the release tickforge (one shard, core 0) writing snapshots to the
# local CQL node (ops/cassandra) every 100 ms per changed player, under a
# tickforge-swarm load (core 1), and reads the tick-duration histogram from
# /metrics (on the admin listener) over two windows: the store reachable,
# then the store stalled (Cassandra paused with SIGSTOP; resumed with SIGCONT
# afterwards). Prints p50/p99 per window from the histogram buckets (linear
# within a bucket), overruns, and the writer's dirty players and oldest
# unflushed age.
#
#   benches/snapshot_stall.sh [BOTS] [WINDOW_SECS]
set -euo pipefail
cd "$(dirname "$0")/.."
bots="${1:-1000}"
window="${2:-20}"
port=7711        # public listener: the swarm's WebSocket
admin_port=7712  # admin listener: /metrics
target="${CARGO_TARGET_DIR:-target}/release"
ops/cassandra/start.sh
pid_db="$(cat ops/cassandra/target/node/cassandra.pid)"
cargo build --release --locked -p tickforge-server --bin tickforge -p tickforge-swarm
data="$(mktemp -d)"
"$target/tickforge" token keygen > "$data/session-key.json"
taskset -c 0 "$target/tickforge" --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$admin_port" \
  --shards 1 --pin-cores false \
  --snapshots "scylla://127.0.0.1:9042/tickforge_bench" --data-dir "$data" \
  --session-key-file "$data/session-key.json" --snapshot-interval-ms 100 --log warn &
server=$!
cleanup() { kill -CONT "$pid_db" 2>/dev/null || true; kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$data"; }
trap cleanup EXIT
for _ in $(seq 1 50); do curl -sf "127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
total=$((window * 2 + 25))
taskset -c 1 "$target/tickforge-swarm" --url "ws://127.0.0.1:$port/ws" --bots "$bots" --ramp 500 \
  --input-hz 10 --duration "${total}s" --scenario arena \
  --token-key-file "$data/session-key.json" > /dev/null 2>&1 &
swarm=$!
scrape() { curl -sf "127.0.0.1:$admin_port/metrics" > "$1"; }
sleep 10
scrape /tmp/stall-a0; sleep "$window"; scrape /tmp/stall-a1
kill -STOP "$pid_db"; echo "Cassandra (pid $pid_db) paused with SIGSTOP"
sleep 3
scrape /tmp/stall-b0; sleep "$window"; scrape /tmp/stall-b1
kill -CONT "$pid_db"; echo "Cassandra resumed"
wait "$swarm" || true
python3 - "$window" <<'PY'
import re, sys
def hist(path):
    b, over, dirty, age = {}, 0.0, 0.0, 0.0
    for line in open(path):
        m = re.match(r'tickforge_tick_duration_seconds_bucket\{.*le="([^"]+)"\} (\S+)', line)
        if m:
            le = float('inf') if m[1] == '+Inf' else float(m[1])
            b[le] = b.get(le, 0.0) + float(m[2])
        m = re.match(r'tickforge_tick_overruns_total\{.*\} (\S+)', line)
        if m: over += float(m[1])
        m = re.match(r'tickforge_snapshot_dirty_players (\S+)', line)
        if m: dirty = float(m[1])
        m = re.match(r'tickforge_snapshot_oldest_unflushed_seconds (\S+)', line)
        if m: age = float(m[1])
    return b, over, dirty, age
def q(b0, b1, p):
    les = sorted(b1); d = [b1[l] - b0.get(l, 0.0) for l in les]
    total = d[-1]; want = p * total; prev_le, prev_c = 0.0, 0.0
    for le, c in zip(les, d):
        if c >= want:
            if le == float('inf'): return prev_le
            return prev_le + (le - prev_le) * (want - prev_c) / max(c - prev_c, 1e-9)
        prev_le, prev_c = le, c
    return float('nan')
for name, a, b in (("store reachable", "a", "a"), ("store stalled (SIGSTOP)", "b", "b")):
    h0, o0, _, _ = hist(f"/tmp/stall-{a}0"); h1, o1, dirty, age = hist(f"/tmp/stall-{b}1")
    ticks = max(h1.values()) - max(h0.values())
    print(f"{name:26} ticks {ticks:7.0f}  p50 {q(h0,h1,0.5)*1e6:7.1f} us  p99 {q(h0,h1,0.99)*1e6:7.1f} us  overruns {o1-o0:.0f}  dirty players at end {dirty:.0f}  oldest unflushed {age:.1f} s")
PY
