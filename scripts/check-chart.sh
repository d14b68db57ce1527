#!/usr/bin/env bash
# Static checks of the Helm chart in charts/gregor (no Kubernetes cluster needed):
#   1. helm lint --strict, with the default values and with every ci/*-values.yaml
#   2. helm template for the default values and ci/secure-3-replicas-values.yaml
#   3. kubernetes-validate --strict: every rendered object against the Kubernetes 1.30 API
#   4. scripts/check-chart-refs.py: selectors, port names, volumes, and that every file
#      the gregor config names (TLS, SASL passwords) lies in a mounted Secret
#   5. gregor check-config on the rendered config files, through the chart's own
#      entrypoint (so with the per-pod GREGOR_… overrides it sets): the default
#      values, and the secure values as a single node (a gregor without clustering
#      support rejects the `cluster:` section that replicas > 1 adds).
#
#   scripts/check-chart.sh                                   steps 1-4
#   GREGOR_BIN=target/release/gregor scripts/check-chart.sh  all steps
#
# helm and kubernetes-validate come from scripts/install-test-deps.sh (step `chart`),
# run here when either is missing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

CHART=charts/gregor
SECURE_VALUES="$CHART/ci/secure-3-replicas-values.yaml"
KUBE_VERSION=1.30.0
NAMESPACE=gregor-ci
RELEASE=gregor
HELM="$ROOT/.test-env/bin/helm"
KUBE_VALIDATE="$ROOT/.test-env/venv/bin/kubernetes-validate"
PYTHON="$ROOT/.test-env/venv/bin/python"

step() { printf '\n==> %s\n' "$*"; }
die() { printf 'check-chart: FAILED: %s\n' "$*" >&2; exit 1; }

if [[ ! -x "$HELM" || ! -x "$KUBE_VALIDATE" ]]; then
  step "installing helm and kubernetes-validate"
  scripts/install-test-deps.sh chart
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

step "helm lint --strict"
"$HELM" lint --strict "$CHART"
for values in "$CHART"/ci/*-values.yaml; do
  "$HELM" lint --strict "$CHART" -f "$values"
done

step "helm template"
render() { # name, then helm arguments
  local name="$1"
  shift
  "$HELM" template "$RELEASE" "$CHART" --namespace "$NAMESPACE" "$@" >"$WORK/$name.yaml" \
    || die "helm template $name"
  printf '%s: %s\n' "$name" \
    "$(grep '^kind:' "$WORK/$name.yaml" | cut -d' ' -f2 | sort | uniq -c | awk '{print $1 " " $2}' | paste -sd, - | sed 's/,/, /g')"
}
render default
render secure -f "$SECURE_VALUES"
# The secure values on one node: what gregor can check until it accepts `cluster:`.
render secure-1 -f "$SECURE_VALUES" --set replicas=1 \
  --set 'config.broker.default\.replication\.factor=1,config.broker.min\.insync\.replicas=1'
grep -q '^kind: ServiceMonitor' "$WORK/secure.yaml" || die "the secure values render no ServiceMonitor"
grep -q '^      voters:' "$WORK/secure.yaml" || die "3 replicas render no cluster voters"

step "kubernetes-validate --strict -k $KUBE_VERSION"
for name in default secure; do
  out="$("$KUBE_VALIDATE" --strict -k "$KUBE_VERSION" --quiet "$WORK/$name.yaml" 2>&1)" \
    || { printf '%s\n' "$out"; die "$name: manifests do not validate against Kubernetes $KUBE_VERSION"; }
  # The ServiceMonitor is a custom resource without a schema here; step 4 checks its
  # references. Any other unknown kind is a mistake.
  unexpected="$(printf '%s\n' "$out" | grep -v "kind ServiceMonitor with api version monitoring.coreos.com/v1" | sed '/^$/d' || true)"
  [[ -z "$unexpected" ]] || { printf '%s\n' "$unexpected"; die "$name: kubernetes-validate warnings"; }
  echo "$name: valid"
done

step "cross-references (selectors, ports, volumes, Secret paths)"
for name in default secure secure-1; do
  mkdir -p "$WORK/$name"
  "$PYTHON" scripts/check-chart-refs.py "$WORK/$name.yaml" --extract "$WORK/$name" \
    || die "$name: broken references (above)"
  echo "$name: consistent"
done

step "gregor check-config on the rendered config, through the chart's entrypoint"
if [[ -z "${GREGOR_BIN:-}" ]]; then
  echo "SKIPPED: GREGOR_BIN is not set (e.g. GREGOR_BIN=target/release/gregor), so the rendered"
  echo "config was not checked by gregor itself."
  printf '\ncheck-chart: OK (without the gregor check-config step)\n'
  exit 0
fi
[[ -x "$GREGOR_BIN" ]] || die "GREGOR_BIN=$GREGOR_BIN is not an executable"
# The entrypoint ends in `exec gregor "$@"`: put GREGOR_BIN first on PATH as `gregor`.
mkdir -p "$WORK/path"
ln -s "$(cd "$(dirname "$GREGOR_BIN")" && pwd)/$(basename "$GREGOR_BIN")" "$WORK/path/gregor"
for name in default secure-1; do
  # As in pod <release>-0: a clean environment but for what the StatefulSet sets.
  if ! env -i PATH="$WORK/path:/usr/bin:/bin" POD_NAME="$RELEASE-0" POD_NAMESPACE="$NAMESPACE" \
    sh "$WORK/$name/entrypoint.sh" check-config --config "$WORK/$name/gregor.yaml" >"$WORK/$name/effective.txt" 2>&1; then
    cat "$WORK/$name/effective.txt"
    die "$name: gregor rejects the rendered config"
  fi
  want="\"$RELEASE-0.$RELEASE-headless.$NAMESPACE.svc.cluster.local:9092\""
  grep -q '^    node_id: 1,$' "$WORK/$name/effective.txt" || die "$name: node_id is not 1 in pod $RELEASE-0"
  grep -qF "$want" "$WORK/$name/effective.txt" || die "$name: pod $RELEASE-0 does not advertise $want"
  echo "$name: accepted by $("$GREGOR_BIN" --version) as node 1 advertising $want"
done
printf '\ncheck-chart: OK\n'
