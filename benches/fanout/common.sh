# Shared by the fan-out measurement scripts in this directory: start a
# release `tickforge` (one shard, trust-hello, no per-IP caps so one host's
# bots are not refused) and wait for its admin listener; run the swarm.
# SWARM: the tickforge-swarm binary (default target/release/tickforge-swarm).
# OUT: where results go (default target/fanout).
set -u
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SWARM=${SWARM:-$root/target/release/tickforge-swarm}
OUT=${OUT:-$root/target/fanout}
mkdir -p "$OUT"
port=$((20000 + RANDOM % 20000))
admin=$((port + 1))
server_args=(--listen 127.0.0.1:$port --admin-listen 127.0.0.1:$admin --pin-cores false
  --tick-rate 30 --room-capacity 32 --log warn --auth trust-hello
  --max-connections-per-ip 0 --handshakes-per-ip-per-s 0)

wait_admin() {
  for _ in $(seq 1 120); do
    curl -s -o /dev/null "http://127.0.0.1:$admin/metrics" && return 0
    sleep 0.5
  done
  echo "the server's admin listener never answered" >&2
  exit 1
}

# swarm_args BOTS SECS: sets `args` to the swarm's arguments (arena, 10
# inputs/s, a 1 s ramp, one thread).
swarm_args() {
  args=(--url "ws://127.0.0.1:$port/ws" --bots "$1" --ramp 1000 --duration "$2s"
    --input-hz 10 --mode arena --threads 1 --quiet)
}

metric_sum() { # metric_sum REGEX: the sum of matching series on the admin listener
  curl -s "http://127.0.0.1:$admin/metrics" | awk -v re="$1" '$0 ~ re {s+=$NF} END {printf "%d", s}'
}
