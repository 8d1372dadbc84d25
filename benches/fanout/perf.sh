#!/usr/bin/env bash
# Where the server's core goes: server on CPU 0, BOTS bots on CPU 1, perf
# samples all of CPU 0 for 8 s starting 5 s after the swarm.
# usage: benches/fanout/perf.sh NAME BINARY [BOTS=1500]
# read: perf report -i $OUT/NAME.perf --no-children --sort comm,dso
source "$(dirname "$0")/common.sh"
name=$1 bin=$2 bots=${3:-1500}
taskset -c 0 "$bin" "${server_args[@]}" --shards 1 >/dev/null 2>&1 &
pid=$!
wait_admin
swarm_args "$bots" 14
taskset -c 1 "$SWARM" "${args[@]}" >/dev/null 2>&1 &
sw=$!
sleep 5
taskset -c 1 perf record -q -e cpu-clock -F 999 -g -C 0 -o "$OUT/$name.perf" -- sleep 8 >/dev/null 2>&1
wait $sw
kill -INT $pid
wait $pid
echo "perf data: $OUT/$name.perf"
