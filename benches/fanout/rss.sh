#!/usr/bin/env bash
# RSS per connection: (RSS with BOTS seated players − RSS before) ÷ BOTS,
# read 4 s after tickforge_players reached BOTS. Server on CPU 0, swarm on CPU 1.
# usage: benches/fanout/rss.sh BINARY [BOTS=1000]
source "$(dirname "$0")/common.sh"
bin=$1 bots=${2:-1000}
taskset -c 0 "$bin" "${server_args[@]}" --shards 1 >/dev/null 2>&1 &
pid=$!
wait_admin
sleep 1
r0=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
swarm_args "$bots" 12
taskset -c 1 "$SWARM" "${args[@]}" >/dev/null 2>&1 &
sw=$!
c=0
for _ in $(seq 1 60); do
  c=$(metric_sum '^tickforge_players\{')
  [ "$c" -ge "$bots" ] && break
  sleep 0.25
done
sleep 4
r1=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
wait $sw
kill -INT $pid
wait $pid
echo "bots=$bots rss0=${r0}KiB rss1=${r1}KiB players=$c per_conn=$(echo "scale=2; ($r1-$r0)/$bots" | bc) KiB"
