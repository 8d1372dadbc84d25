#!/usr/bin/env bash
# Issue 15 end to end: one tickforge (one shard) and one swarm run; prints the
# server CPU the run took. usage: BOTS=256 MODE=arena-large benches/large_swarm.sh LABEL [swarm flags...]
set -u
cd "$(dirname "$0")/.."
label=$1; shift
key=/tmp/large-session-key.json
[ -s $key ] || ./target/release/tickforge token keygen > $key
./target/release/tickforge --session-key-file $key --listen 127.0.0.1:17750 --admin-listen 127.0.0.1:17751 \
  --max-connections-per-ip 0 --handshakes-per-ip-per-s 0 --shards 1 \
  --mode 'arena;arena-large,tick=20,capacity=256' --outbox-frames 520 > /tmp/large-server-$label.log 2>&1 &
spid=$!
sleep 2
t0=$(awk '{print $14+$15}' /proc/$spid/stat)
./target/release/tickforge-swarm --url ws://127.0.0.1:17750/ws --token-key-file $key \
  --bots ${BOTS:-256} --ramp 256 --input-hz 10 --duration 20s --scenario arena --mode ${MODE:-arena-large} "$@" \
  --json /tmp/large-swarm-$label.json > /tmp/large-swarm-$label.txt 2>&1
t1=$(awk '{print $14+$15}' /proc/$spid/stat)
kill $spid; wait $spid 2>/dev/null
echo "$label server CPU ticks (1/100 s) during the swarm run: $((t1-t0))"
