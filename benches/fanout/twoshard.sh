#!/usr/bin/env bash
# Cross-shard deliveries: a server with two shards (both cores, swarm
# time-shared), BOTS bots for 10 s; prints tickforge_deliveries_total by
# path and the rooms and players per shard.
# usage: benches/fanout/twoshard.sh BINARY [BOTS=640]
source "$(dirname "$0")/common.sh"
bin=$1 bots=${2:-640}
"$bin" "${server_args[@]}" --shards 2 >/dev/null 2>&1 &
pid=$!
wait_admin
swarm_args "$bots" 10
"$SWARM" "${args[@]}" >/dev/null 2>&1
curl -s "http://127.0.0.1:$admin/metrics" | grep -E '^tickforge_deliveries_total'
curl -s "http://127.0.0.1:$admin/metrics" | grep -E '^tickforge_(rooms|players)\{'
kill -INT $pid
wait $pid
