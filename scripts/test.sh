#!/usr/bin/env bash
# The one test command: installs what the tests need (idempotently), then runs
# every test — formatting and lints, unit tests, protocol tests, and the
# real-client compatibility suite against a release build of gregor.
#
#   scripts/test.sh            everything
#   SKIP_INSTALL=1 scripts/test.sh   skip the dependency installer
#
# Long soaks and repeated fault loops are not run here; see README.md.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
fi
step() { printf '\n==> %s\n' "$*"; }

if [ "${SKIP_INSTALL:-0}" != "1" ]; then
  step "installing test dependencies"
  scripts/install-test-deps.sh
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --all-targets -- -D warnings

step "cargo build --release (the binary the compat suite drives, and the rdkafka-crate driver)"
cargo build --release --bin gregor
cargo build --release -p gregor-compat-rdkafka
step "Helm chart: lint, render, validate, and gregor check-config on the rendered config"
GREGOR_BIN="$ROOT/target/release/gregor" scripts/check-chart.sh

step "unit and protocol tests"
cargo test

step "compatibility suite: real clients against a real gregor"
GREGOR_BIN="$ROOT/target/release/gregor" .test-env/venv/bin/pytest compat -q
