#!/usr/bin/env bash
# Instructions per State delivery: the server under callgrind on CPU 0,
# BOTS bots on CPU 1; collection zeroed 6 s after the swarm started (all
# joined), dumped SECS later; States from tickforge_messages_out_total.
# usage: benches/fanout/callgrind.sh NAME BINARY [BOTS=64] [SECS=10]
source "$(dirname "$0")/common.sh"
name=$1 bin=$2 bots=${3:-64} secs=${4:-10}
out=$OUT/$name
rm -f "$out".cg*
taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$out.cg" --dump-instr=no \
  "$bin" "${server_args[@]}" --shards 1 >"$out.log" 2>&1 &
vg=$!
wait_admin
swarm_args "$bots" $((secs + 8))
taskset -c 1 "$SWARM" "${args[@]}" >"$out.swarm.log" 2>&1 &
sw=$!
sleep 6
callgrind_control -z $vg >/dev/null
a=$(metric_sum '^tickforge_messages_out_total.*type="state"')
sleep "$secs"
b=$(metric_sum '^tickforge_messages_out_total.*type="state"')
callgrind_control -d $vg >/dev/null
wait $sw
kill -INT $vg
wait $vg
dump=$(ls -t "$out".cg.* | head -1)
ir=$(callgrind_annotate "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1}')
echo "$name bots=$bots states=$((b - a)) Ir=$ir Ir_per_state=$((ir / (b - a)))"
