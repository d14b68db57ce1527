#!/usr/bin/env bash
# Starts a three-node gregor cluster on this machine from config/cluster-3.yaml and
# waits until every node is ready; Ctrl-C stops all three (controlled shutdown).
# Clients bootstrap from 127.0.0.1:9192,127.0.0.1:9292,127.0.0.1:9392.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${GREGOR_BIN:-target/release/gregor}"
[ -x "$BIN" ] || cargo build --release --bin gregor
pids=()
trap 'kill -TERM "${pids[@]}" 2>/dev/null; wait' INT TERM EXIT
for n in 1 2 3; do
  GREGOR_NODE_ID=$n \
  GREGOR_DATA_DIR="./data-cluster/node-$n" \
  GREGOR_LISTENERS__0__BIND="127.0.0.1:9${n}92" \
  GREGOR_LISTENERS__0__ADVERTISED="127.0.0.1:9${n}92" \
  GREGOR_ADMIN__BIND="127.0.0.1:9${n}44" \
    "$BIN" serve --config config/cluster-3.yaml &
  pids+=($!)
done
for n in 1 2 3; do
  until curl -fs "http://127.0.0.1:9${n}44/readyz" >/dev/null 2>&1; do sleep 0.2; done
  echo "node $n ready on 127.0.0.1:9${n}92"
done
wait
