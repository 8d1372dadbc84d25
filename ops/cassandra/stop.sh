#!/usr/bin/env bash
# Stops the CQL node that start.sh started (its pid file), if it runs.
#   stop.sh          SIGTERM, then SIGKILL after 30 s
#   stop.sh --kill   SIGKILL at once (a crash: the tests use it)
#   stop.sh --wipe   stop, then delete its data
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dir="${TICKFORGE_CQL_DIR:-$here/target/node}"
mode="${1:-}"
pid="$(cat "$dir/cassandra.pid" 2>/dev/null || true)"
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
  if [ "$mode" = "--kill" ]; then
    kill -KILL "$pid"
  else
    kill -CONT "$pid" 2>/dev/null || true
    kill -TERM "$pid"
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  fi
  while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
  echo "cassandra: node $pid stopped"
fi
rm -f "$dir/cassandra.pid"
if [ "$mode" = "--wipe" ]; then
  rm -rf "$dir"
  echo "cassandra: data removed"
fi
