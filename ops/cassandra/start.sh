#!/usr/bin/env bash
# Starts the single-node Apache Cassandra 5.0 that tickforge's snapshot tests
# and benchmarks write to, built from Maven Central artifacts (pom.xml), or
# reuses the node it started earlier that already answers CQL on
# 127.0.0.1:$TICKFORGE_CQL_PORT (a node started elsewhere is refused).
# Idempotent: run it as often as you like. Waits until the node answers a CQL
# OPTIONS request; on failure prints the end of the node's logs and exits 1.
#
#   TICKFORGE_CQL_PORT          CQL native port (default 9042)
#   TICKFORGE_CQL_STORAGE_PORT  internode port (default 7000)
#   TICKFORGE_CQL_DIR           data, logs and pid file (default ops/cassandra/target/node)
#   TICKFORGE_CQL_HEAP          heap size (default 1G)
#   TICKFORGE_CQL_WAIT_SECS     longest wait for the node to answer (default 240)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
port="${TICKFORGE_CQL_PORT:-9042}"
storage_port="${TICKFORGE_CQL_STORAGE_PORT:-7000}"
dir="${TICKFORGE_CQL_DIR:-$here/target/node}"
heap="${TICKFORGE_CQL_HEAP:-1G}"
wait_secs="${TICKFORGE_CQL_WAIT_SECS:-240}"
lib="$here/target/lib"

# Answers when a CQL server on the port replies to OPTIONS (protocol v4) with SUPPORTED.
cql_answers() {
  timeout 3 bash -c '
    exec 3<>/dev/tcp/127.0.0.1/'"$port"' || exit 1
    printf "\x04\x00\x00\x00\x05\x00\x00\x00\x00" >&3
    head -c 5 <&3 | od -An -tx1 | tr -d " \n"
  ' 2>/dev/null | grep -q '^840000'"00"'06$'
}

node_pid() {
  local pid
  pid="$(cat "$dir/cassandra.pid" 2>/dev/null || true)"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then echo "$pid"; fi
}

fail() {
  echo "cassandra: $1" >&2
  for log in "$dir/system.log" "$dir/console.log"; do
    if [ -s "$log" ]; then
      echo "---- last lines of $log" >&2
      tail -n 40 "$log" >&2
    fi
  done
  exit 1
}

if cql_answers; then
  # The crash tests stop and restart the node through its pid file and data
  # directory, so only a node started from this directory is reused.
  if [ -z "$(node_pid)" ]; then
    fail "a CQL node not started from $dir answers on 127.0.0.1:$port; stop it, or set TICKFORGE_CQL_PORT (and TICKFORGE_CQL_STORAGE_PORT) to free ports"
  fi
  echo "cassandra: reusing the CQL node on 127.0.0.1:$port"
  exit 0
fi

pid="$(node_pid)"
if [ -z "$pid" ]; then
  command -v java >/dev/null || fail "java not found (Java 17 is needed)"
  if ! ls "$lib"/cassandra-all-*.jar >/dev/null 2>&1 || ! ls "$lib"/jamm-*.jar >/dev/null 2>&1; then
    command -v mvn >/dev/null || fail "mvn not found (Maven resolves the node from Maven Central)"
    echo "cassandra: resolving cassandra-all and its dependencies with Maven"
    mvn -B -q -f "$here/pom.xml" package || fail "mvn could not resolve the node"
  fi
  mkdir -p "$dir"
  sed -e "s|@DIR@|$dir|g" -e "s|@CQL_PORT@|$port|g" -e "s|@STORAGE_PORT@|$storage_port|g" \
    "$here/cassandra.yaml" > "$dir/cassandra.yaml"
  jamm="$(ls "$lib"/jamm-*.jar | head -n 1)"
  mapfile -t jvm_options < <(grep -v '^[[:space:]]*\(#\|$\)' "$here/jvm.options")
  echo "cassandra: starting a node on 127.0.0.1:$port (data in $dir)"
  setsid java \
    "-Xms$heap" "-Xmx$heap" \
    "-javaagent:$jamm" \
    "${jvm_options[@]}" \
    "-Dcassandra.config=file://$dir/cassandra.yaml" \
    "-Dlogback.configurationFile=file://$here/logback.xml" \
    "-Dcassandra.logdir=$dir" \
    "-Dcassandra.storagedir=$dir" \
    "-Dcassandra-foreground=yes" \
    "-Dcassandra.skip_wait_for_gossip_to_settle=0" \
    -cp "$lib/*" \
    org.apache.cassandra.service.CassandraDaemon \
    > "$dir/console.log" 2>&1 < /dev/null &
  pid=$!
  echo "$pid" > "$dir/cassandra.pid"
else
  echo "cassandra: node $pid is starting; waiting for it"
fi

for _ in $(seq 1 "$wait_secs"); do
  if cql_answers; then
    echo "cassandra: node $pid answers CQL on 127.0.0.1:$port"
    exit 0
  fi
  kill -0 "$pid" 2>/dev/null || fail "the node (pid $pid) exited before answering CQL"
  sleep 1
done
fail "no CQL answer on 127.0.0.1:$port after ${wait_secs}s"
