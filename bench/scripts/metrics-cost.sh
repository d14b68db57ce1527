#!/usr/bin/env bash
# The metrics layer's cost: two brokers from the same binary, one with metrics on
# (the default) and one with `admin.metrics: false`, benchmarked alternately in one
# run, on-off then off-on: each run leaves gigabytes for the kernel to write back while
# the next one runs, so a fixed order would always handicap the second broker.
#
#   bench/scripts/metrics-cost.sh [bench options...]   default: the four acks=1 cases, 512 MiB each
#
# Needs target/release/gregor (cargo build --release). Prints each run's table.
set -euo pipefail
# shellcheck source=bench/scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ARGS=("$@")
((${#ARGS[@]})) || ARGS=(--only acks1 --mib 512)

start() { # name metrics(true|false) -> echoes the bootstrap address
  local name=$1 metrics=$2 port admin
  port=$(free_port); admin=$(free_port)
  mkdir -p "$WORK/$name"
  cat >"$WORK/$name/gregor.yaml" <<YAML
node_id: 1
data_dir: $WORK/$name/data
listeners:
  - { name: PLAINTEXT, bind: "127.0.0.1:$port", advertised: "127.0.0.1:$port" }
admin: { bind: "127.0.0.1:$admin", metrics: $metrics }
log: { level: warn, connections: false }
YAML
  env -u GREGOR_BIN "$BIN" serve --config "$WORK/$name/gregor.yaml" >"$WORK/$name/log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 200); do
    curl -sf "http://127.0.0.1:$admin/readyz" >/dev/null && { echo "127.0.0.1:$port"; return; }
    sleep 0.05
  done
  echo "broker $name did not start" >&2; cat "$WORK/$name/log" >&2; exit 1
}

ON=$(start on true)
OFF=$(start off false)
cd "$ROOT"
for round in 1 2; do
  order="on off"; ((round % 2)) || order="off on"
  for which in $order; do
    addr=$ON; [[ $which == off ]] && addr=$OFF
    echo "=== round $round: metrics $which ($addr)"
    cargo bench -q -p gregor-bench --bench throughput -- --bootstrap "$addr" "${ARGS[@]}"
  done
done
