#!/usr/bin/env bash
# Static checks of the Helm chart in charts/gregor (no Kubernetes cluster needed):
#   1. helm lint --strict, with the default values and with every ci/*-values.yaml
#   2. helm template for the default values and ci/secure-3-replicas-values.yaml
#   3. kubernetes-validate --strict: every rendered object against the Kubernetes 1.30 API
#   4. scripts/check-chart-refs.py: selectors, port names, volumes, and that every file
#      the gregor config names (TLS, SASL passwords) lies in a mounted Secret
#   5. gregor check-config on the rendered config files, through the chart's own
#      entrypoint (so with the per-pod GREGOR_… overrides it sets): the default
#      values as pod 0, the secure values as a single node (pod 0) and with their
#      three replicas as pods 0, 1 and 2
#   6. scripts/check-chart-cluster.py: the default values with replicas=3, then the
#      secure values (SASL_SSL for clients and for replication), each run as three
#      real gregor processes on 127.0.0.1, one per pod, each through the entrypoint
#      (pod DNS names and ports mapped to free local ports, Secrets to test files;
#      the script's docstring says exactly what it changes); all /readyz 200,
#      Metadata on each node lists the three brokers, a topic with replication factor
#      3 takes and returns a record with a full ISR
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
# The secure values on one node: no `cluster:` section, no internal listener.
render secure-1 -f "$SECURE_VALUES" --set replicas=1 \
  --set 'config.broker.default\.replication\.factor=1,config.broker.min\.insync\.replicas=1'
# The default (plaintext) values as a three-node cluster, run for real in step 6.
render cluster --set replicas=3
grep -q '^kind: ServiceMonitor' "$WORK/secure.yaml" || die "the secure values render no ServiceMonitor"
grep -q '^      voters:' "$WORK/secure.yaml" || die "3 replicas render no cluster voters"
grep -q '^      voters:' "$WORK/secure-1.yaml" && die "1 replica renders cluster voters"
# The secure values replicate over their own SASL_SSL listener: the chart adds none.
grep -q 'inter_broker_listener: REPLICATION' "$WORK/secure.yaml" \
  || die "the secure values do not replicate over their REPLICATION listener"
grep -q 'name: INTERNAL' "$WORK/secure.yaml" && die "the secure values render a plaintext INTERNAL listener"
# … and without the inter-broker client settings the render stops, naming them.
"$PYTHON" -c 'import sys, yaml; v = yaml.safe_load(open(sys.argv[1])); del v["config"]["cluster"]["inter_broker_client"]
yaml.safe_dump(v, open(sys.argv[2], "w"))' "$SECURE_VALUES" "$WORK/no-client-values.yaml"
if out="$("$HELM" template "$RELEASE" "$CHART" -f "$WORK/no-client-values.yaml" 2>&1)"; then
  die "the secure values render without config.cluster.inter_broker_client"
fi
grep -q 'set config.cluster.inter_broker_client.tls' <<<"$out" \
  || die "a TLS inter-broker listener without inter_broker_client.tls fails without naming it: $out"
# The default values' PLAINTEXT listener carries replication as well as clients.
grep -q 'inter_broker_listener: PLAINTEXT' "$WORK/cluster.yaml" \
  || die "the default values with replicas=3 do not replicate over PLAINTEXT"

step "kubernetes-validate --strict -k $KUBE_VERSION"
for name in default secure cluster; do
  out="$("$KUBE_VALIDATE" --strict -k "$KUBE_VERSION" --quiet "$WORK/$name.yaml" 2>&1)" \
    || { printf '%s\n' "$out"; die "$name: manifests do not validate against Kubernetes $KUBE_VERSION"; }
  # The ServiceMonitor is a custom resource without a schema here; step 4 checks its
  # references. Any other unknown kind is a mistake.
  unexpected="$(printf '%s\n' "$out" | grep -v "kind ServiceMonitor with api version monitoring.coreos.com/v1" | sed '/^$/d' || true)"
  [[ -z "$unexpected" ]] || { printf '%s\n' "$unexpected"; die "$name: kubernetes-validate warnings"; }
  echo "$name: valid"
done

step "cross-references (selectors, ports, volumes, Secret paths)"
for name in default secure secure-1 cluster; do
  mkdir -p "$WORK/$name"
  "$PYTHON" scripts/check-chart-refs.py "$WORK/$name.yaml" --extract "$WORK/$name" \
    || die "$name: broken references (above)"
  echo "$name: consistent"
done

step "gregor check-config on the rendered config, through the chart's entrypoint"
if [[ -z "${GREGOR_BIN:-}" ]]; then
  echo "SKIPPED: GREGOR_BIN is not set (e.g. GREGOR_BIN=target/release/gregor), so the rendered"
  echo "config was not checked by gregor itself, nor run as a cluster."
  printf '\ncheck-chart: OK (without the gregor steps 5 and 6)\n'
  exit 0
fi
[[ -x "$GREGOR_BIN" ]] || die "GREGOR_BIN=$GREGOR_BIN is not an executable"
# The entrypoint ends in `exec gregor "$@"`: put GREGOR_BIN first on PATH as `gregor`.
mkdir -p "$WORK/path"
ln -s "$(cd "$(dirname "$GREGOR_BIN")" && pwd)/$(basename "$GREGOR_BIN")" "$WORK/path/gregor"
check_pod() { # render name, pod ordinal
  local name="$1" ordinal="$2" pod="$RELEASE-$2" out="$WORK/$1/effective-$2.txt"
  # As in pod <release>-<ordinal>: a clean environment but for what the StatefulSet sets.
  if ! env -i PATH="$WORK/path:/usr/bin:/bin" POD_NAME="$pod" POD_NAMESPACE="$NAMESPACE" \
    sh "$WORK/$name/entrypoint.sh" check-config --config "$WORK/$name/gregor.yaml" >"$out" 2>&1; then
    cat "$out"
    die "$name: gregor rejects the rendered config in pod $pod"
  fi
  local want="\"$pod.$RELEASE-headless.$NAMESPACE.svc.cluster.local:9092\""
  grep -q "^    node_id: $((ordinal + 1)),\$" "$out" || die "$name: node_id is not $((ordinal + 1)) in pod $pod"
  grep -qF "$want" "$out" || die "$name: pod $pod does not advertise $want"
  echo "$name: accepted by $("$GREGOR_BIN" --version) as node $((ordinal + 1)) advertising $want"
}
check_pod default 0
check_pod secure-1 0
for ordinal in 0 1 2; do
  check_pod secure "$ordinal"
done
grep -q 'controller_bind: Some(' "$WORK/secure/effective-0.txt" \
  || die "secure: gregor sees no cluster.controller_bind"
grep -qF "\"$RELEASE-2.$RELEASE-headless.$NAMESPACE.svc.cluster.local:9094\"" "$WORK/secure/effective-2.txt" \
  || die "secure: pod $RELEASE-2 does not advertise its REPLICATION listener"

step "the rendered 3-replica cluster, run as three local gregor processes"
"$PYTHON" -c 'import confluent_kafka, kafka' 2>/dev/null \
  || die "the test venv lacks confluent-kafka or kafka-python: run scripts/install-test-deps.sh"
"$PYTHON" scripts/check-chart-cluster.py "$WORK/cluster" "$GREGOR_BIN" \
  || die "the chart's replicas=3 render does not make a working cluster (above)"
step "the secure 3-replica render (SASL_SSL replication), run as three local gregor processes"
"$PYTHON" scripts/check-chart-cluster.py "$WORK/secure" "$GREGOR_BIN" \
  || die "the chart's secure render does not make a working cluster (above)"
printf '\ncheck-chart: OK\n'
