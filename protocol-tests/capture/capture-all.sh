#!/usr/bin/env bash
# Re-captures protocol-tests/golden/<client>/ from the real clients on this machine.
# For each client: a fresh gregor (target/debug/gregor, empty data dir) whose listener
# advertises the relay's port, capture.py in front of it, and the client's scenario
# (clients.py, kafkajs.js, or the kcat commands below) pointed at the relay.
#
# Usage: protocol-tests/capture/capture-all.sh [client ...]
#        clients: kcat confluent kafka-python aiokafka kafkajs (default: all)
# Env:   GREGOR  (default target/debug/gregor; build it first: cargo build)
#        PYTHON  (default .test-env/venv/bin/python, from scripts/install-test-deps.sh)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/protocol-tests/capture"
OUT="$ROOT/protocol-tests/golden"
GREGOR="${GREGOR:-$ROOT/target/debug/gregor}"
PYTHON="${PYTHON:-$ROOT/.test-env/venv/bin/python}"
CLIENTS=("$@")
[ ${#CLIENTS[@]} -gt 0 ] || CLIENTS=(kcat confluent kafka-python aiokafka kafkajs)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

scenario_kcat() {
  local b=$1 t=kcat-topic
  kcat -b "$b" -L >/dev/null
  for z in none gzip snappy lz4 zstd; do
    printf 'k1:%s-one\nk2:%s-two\nk3:%s-three\n' "$z" "$z" "$z" | kcat -b "$b" -P -t "$t" -z "$z" -K: || true
  done
  kcat -b "$b" -L -t "$t" >/dev/null
  kcat -b "$b" -C -t "$t" -o beginning -e -q >/dev/null || true
  kcat -b "$b" -Q -t "$t:0:$(( $(date +%s) * 1000 - 60000 ))" >/dev/null || true
  # a balanced consumer: FindCoordinator, JoinGroup, SyncGroup, OffsetFetch, OffsetCommit, LeaveGroup
  timeout 15 kcat -b "$b" -G kcat-group "$t" -o beginning -e -q -X enable.auto.commit=true \
    -X auto.commit.interval.ms=200 >/dev/null || true
}

capture_one() {
  local client=$1 work gport rport aport
  gpid='' cpid=''
  work=$(mktemp -d)
  gport=$(free_port) rport=$(free_port) aport=$(free_port)
  cat >"$work/gregor.yaml" <<EOF
node_id: 1
data_dir: $work/data
listeners:
  - name: PLAINTEXT
    bind: 127.0.0.1:$gport
    advertised: 127.0.0.1:$rport
    security: plaintext
admin:
  bind: 127.0.0.1:$aport
log:
  level: warn
broker:
  group.initial.rebalance.delay.ms: 0
EOF
  "$GREGOR" serve --config "$work/gregor.yaml" 2>"$work/gregor.log" &
  gpid=$!
  # whatever happens to the client, stop the broker and the relay
  trap 'kill $gpid $cpid 2>/dev/null || true' EXIT
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$aport/readyz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  rm -rf "${OUT:?}/$client"
  python3 "$HERE/capture.py" --listen "$rport" --upstream "127.0.0.1:$gport" --out "$OUT" --client "$client" \
    >"$work/kept.txt" &
  cpid=$!
  sleep 0.5
  echo "== $client" >&2
  case $client in
    kcat) scenario_kcat "127.0.0.1:$rport" ;;
    kafkajs) NODE_PATH="$ROOT/compat/node/node_modules" node "$HERE/kafkajs.js" "127.0.0.1:$rport" ;;
    *) "$PYTHON" "$HERE/clients.py" "$client" "127.0.0.1:$rport" ;;
  esac || echo "   $client scenario exited with status $?" >&2
  kill "$cpid"; wait "$cpid" || true
  kill "$gpid"; wait "$gpid" || true
  echo "   kept $(wc -l <"$work/kept.txt") frames in $OUT/$client" >&2
  rm -rf "$work"
}

for c in "${CLIENTS[@]}"; do
  capture_one "$c"
done
