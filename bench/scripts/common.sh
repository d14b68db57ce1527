# Sourced by the bench scripts: the broker binary, a temp dir for the brokers they
# start, and a trap that kills those brokers (by PID) and removes the dir on exit.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="${GREGOR_BIN:-$ROOT/target/release/gregor}"
[[ -x "$BIN" ]] || { echo "no $BIN: cargo build --release" >&2; exit 1; }

WORK="$(mktemp -d)"
PIDS=()
# shellcheck disable=SC2317  # called by the trap
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
