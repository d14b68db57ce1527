#!/usr/bin/env bash
# The gateway's overhead beside a direct connection: one gregor broker (the upstream)
# and a gregor gateway in front of it (`proxy:` in port addressing mode), benchmarked
# alternately in one run, direct-proxy then proxy-direct: each run leaves gigabytes for
# the kernel to write back while the next one runs, so a fixed order would always
# handicap the second one. Both paths end at the same broker and the same disk; the
# proxy runs add one loopback hop and the gateway's CPU (on the same cores).
#
#   bench/scripts/proxy-overhead.sh [bench options...]   default: the four acks=1 cases, 512 MiB each
#
# Needs target/release/gregor (cargo build --release). Prints each run's table, then a
# summary per case: MB/s direct vs proxy (mean of the rounds), proxy/direct, and the
# latency p50/p99 difference (proxy - direct, ms).
set -euo pipefail
# shellcheck source=bench/scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ARGS=("$@")
((${#ARGS[@]})) || ARGS=(--only acks1 --mib 512)

logs_tail() { # what the broker and the gateway said, last lines of each
  for name in direct proxy; do
    [[ -s "$WORK/$name/log" ]] || continue
    echo "--- $name log (last 30 lines)" >&2
    tail -n 30 "$WORK/$name/log" >&2
  done
}

start() { # name port node_id [extra yaml]: starts gregor, waits for /readyz
  local name=$1 port=$2 node_id=$3 extra=${4:-} admin
  admin=$(free_port)
  mkdir -p "$WORK/$name"
  cat >"$WORK/$name/gregor.yaml" <<YAML
node_id: $node_id
data_dir: $WORK/$name/data
listeners:
  - { name: PLAINTEXT, bind: "127.0.0.1:$port", advertised: "127.0.0.1:$port" }
admin: { bind: "127.0.0.1:$admin" }
log: { level: warn, connections: false }
$extra
YAML
  env -u GREGOR_BIN "$BIN" serve --config "$WORK/$name/gregor.yaml" >"$WORK/$name/log" 2>&1 &
  PIDS+=($!)
  # the gateway is ready once it has reached the upstream
  for _ in $(seq 400); do
    curl -sf "http://127.0.0.1:$admin/readyz" >/dev/null && return
    sleep 0.05
  done
  echo "$name did not become ready" >&2; cat "$WORK/$name/log" >&2; exit 1
}

UPSTREAM_PORT=$(free_port)
start direct "$UPSTREAM_PORT" 1
DIRECT="127.0.0.1:$UPSTREAM_PORT"

PROXY_PORT=$(free_port); FIRST=$(free_port)
# the upstream is node 1: the gateway serves it on FIRST
start proxy "$PROXY_PORT" 0 "proxy:
  upstream: { bootstrap: [\"$DIRECT\"], security: plaintext }
  addressing: { mode: port, first_port: $FIRST, node_id_base: 1, nodes_max: 1 }"
PROXY="127.0.0.1:$PROXY_PORT"

cd "$ROOT"
status=0
for round in 1 2; do
  order="direct proxy"; ((round % 2)) || order="proxy direct"
  for which in $order; do
    addr=$DIRECT; [[ $which == proxy ]] && addr=$PROXY
    echo "=== round $round: $which ($addr)"
    cargo bench -q -p gregor-bench --bench throughput -- --bootstrap "$addr" "${ARGS[@]}" \
      | tee "$WORK/round$round-$which.md" || { status=1; echo "(the run above failed or has invalid rows)" >&2; }
  done
done

echo
echo "=== summary: proxy vs direct, mean of 2 rounds (${ARGS[*]})"
# Reads the bench's markdown tables (the header row names the columns); invalid rows
# (struck through) and missing figures are left out of the means.
python3 - "$WORK" <<'PY'
import glob, os, re, sys
from collections import defaultdict

runs = defaultdict(lambda: defaultdict(list))  # (case, security) -> "direct"/"proxy" -> [row dicts]
for path in sorted(glob.glob(os.path.join(sys.argv[1], "round*-*.md"))):
    which = os.path.basename(path).split("-")[1].removesuffix(".md")
    header = None
    for line in open(path):
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == "case":
            header = cells
        elif header and not set(line) <= set("|-: \n"):
            row = dict(zip(header, cells))
            runs[(row["case"], row["security"])][which].append(row)

def num(text):
    m = re.fullmatch(r"[\d,]+(\.\d+)?", text.replace("~", ""))
    return float(text.replace(",", "")) if m else None

def mean(rows, col, part=None):
    vals = []
    for r in rows:
        text = r.get(col, "")
        if part is not None:
            parts = text.split("/")
            text = parts[part].strip() if len(parts) > part else ""
        v = num(text)
        if v is not None:
            vals.append(v)
    return sum(vals) / len(vals) if vals else None

f = lambda v, d=1: "–" if v is None else f"{v:,.{d}f}"
ratio = lambda p, d: "–" if p is None or not d else f"{100 * p / d:.0f}%"
diff = lambda p, d: "–" if p is None or d is None else f"{p - d:+.2f}"

lat = "latency p50 / p99 / max ms"
print("| case | security | produce MB/s direct | proxy | proxy/direct | consume MB/s direct | proxy | proxy/direct "
      "| p50 ms direct | Δ proxy | p99 ms direct | Δ proxy | valid runs direct / proxy |")
print("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
for (case, security), by in runs.items():
    d, p = ([r for r in by[w] if r.get("status") == "ok"] for w in ("direct", "proxy"))
    pd, pp = mean(d, "produce MB/s"), mean(p, "produce MB/s")
    cd, cp = mean(d, "consume MB/s"), mean(p, "consume MB/s")
    l50d, l50p = mean(d, lat, 0), mean(p, lat, 0)
    l99d, l99p = mean(d, lat, 1), mean(p, lat, 1)
    print(f"| {case} | {security} | {f(pd)} | {f(pp)} | {ratio(pp, pd)} | {f(cd)} | {f(cp)} | {ratio(cp, cd)} "
          f"| {f(l50d, 2)} | {diff(l50p, l50d)} | {f(l99d, 2)} | {diff(l99p, l99d)} | {len(d)} / {len(p)} |")
if not runs:
    print("(no valid rows in any run)")
PY

if ((status)); then
  echo "some runs failed or had invalid rows (see their tables above)" >&2
  logs_tail
elif [[ -s "$WORK/proxy/log" ]]; then
  echo; echo "gateway log (last 20 lines):"; tail -n 20 "$WORK/proxy/log"
fi
exit "$status"
