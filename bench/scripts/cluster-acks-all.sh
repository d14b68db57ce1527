#!/usr/bin/env bash
# Replication's cost: a single gregor node with acks=1 beside a three-node cluster
# (config/cluster-3.yaml's settings: RF=3, min.insync.replicas=2) with acks=all, in one
# run on this machine. All four processes share its cores and disk, so the cluster
# figures include two followers fetching and writing every byte on the same box.
#
#   bench/scripts/cluster-acks-all.sh [bench options...]   default: 1 KiB, 8 partitions, 512 MiB
#
# The single node runs the acks1 case of the options, the cluster the acksall one (and
# acks1 for reference). Needs target/release/gregor (cargo build --release).
set -euo pipefail
# shellcheck source=bench/scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ARGS=("$@")
((${#ARGS[@]})) || ARGS=(--only 1k --only p8 --mib 512)

wait_ready() { # name admin_port
  for _ in $(seq 600); do
    curl -sf "http://127.0.0.1:$2/readyz" >/dev/null && return
    sleep 0.1
  done
  echo "$1 did not become ready" >&2; cat "$WORK/$1/log" >&2; exit 1
}

serve() { # name node_id kafka_port admin_port extra_yaml
  mkdir -p "$WORK/$1"
  cat >"$WORK/$1/gregor.yaml" <<YAML
node_id: $2
data_dir: $WORK/$1/data
listeners:
  - { name: PLAINTEXT, bind: "127.0.0.1:$3", advertised: "127.0.0.1:$3" }
admin: { bind: "127.0.0.1:$4" }
log: { level: warn, connections: false }
$5
YAML
  env -u GREGOR_BIN "$BIN" serve --config "$WORK/$1/gregor.yaml" >"$WORK/$1/log" 2>&1 &
  PIDS+=($!)
}

SINGLE_PORT=$(free_port); SINGLE_ADMIN=$(free_port)
serve single 1 "$SINGLE_PORT" "$SINGLE_ADMIN" ""
wait_ready single "$SINGLE_ADMIN"

declare -A PORT ADMIN CTRL
for n in 1 2 3; do PORT[$n]=$(free_port); ADMIN[$n]=$(free_port); CTRL[$n]=$(free_port); done
VOTERS="\"1@127.0.0.1:${CTRL[1]}\", \"2@127.0.0.1:${CTRL[2]}\", \"3@127.0.0.1:${CTRL[3]}\""
for n in 1 2 3; do
  serve "node-$n" "$n" "${PORT[$n]}" "${ADMIN[$n]}" "cluster: { voters: [$VOTERS] }
broker:
  default.replication.factor: 3
  min.insync.replicas: 2
  offsets.topic.replication.factor: 3"
done
for n in 1 2 3; do wait_ready "node-$n" "${ADMIN[$n]}"; done
CLUSTER="127.0.0.1:${PORT[1]},127.0.0.1:${PORT[2]},127.0.0.1:${PORT[3]}"

cd "$ROOT"
status=0
echo "=== single node, acks=1 (127.0.0.1:$SINGLE_PORT)"
cargo bench -q -p gregor-bench --bench throughput -- --bootstrap "127.0.0.1:$SINGLE_PORT" "${ARGS[@]}" --only acks1 \
  || { status=1; echo "(the run above failed or has invalid rows)" >&2; }
echo "=== three nodes, RF=3, min.insync.replicas=2 ($CLUSTER)"
cargo bench -q -p gregor-bench --bench throughput -- --bootstrap "$CLUSTER" --replication-factor 3 "${ARGS[@]}" \
  || { status=1; echo "(the run above failed or has invalid rows)" >&2; }
if ((status)); then
  for name in single node-1 node-2 node-3; do
    echo "--- $name log (last 20 lines)" >&2; tail -n 20 "$WORK/$name/log" >&2
  done
fi
exit "$status"
