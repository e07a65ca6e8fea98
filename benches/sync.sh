#!/usr/bin/env bash
# Benchmarks of `weir sync` against the local control plane (run after
# `cargo xtask testenv up` and `eval "$(cargo xtask testenv env)"`, or with
# WEIR_TEST_KUBECONFIG set):
#
#  (a) 1,000 ConfigMaps and 200 Deployments in 3 waves: `weir sync` against
#      `kubectl apply --server-side` of the same objects wave by wave with
#      `kubectl wait` between (goal: weir at least 3x faster);
#  (b) a no-op re-sync of 5,000 objects (goal: under 3 s).
#
# Usage: benches/sync.sh [path/to/weir]   (default: target/release/weir,
# built with `cargo build --release` if missing)
set -euo pipefail
KCFG=${WEIR_TEST_KUBECONFIG:?set WEIR_TEST_KUBECONFIG (run cargo xtask testenv up)}
KUBECTL=${WEIR_KUBECTL:-kubectl}
WEIR=${1:-target/release/weir}
[ -x "$WEIR" ] || cargo build --release --bin weir
k() { "$KUBECTL" --kubeconfig "$KCFG" "$@"; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
RUN=$(date +%s)

cm() { # ns name wave
  printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: %s\n  labels: {bench-wave: "%s"}\ndata: {key: value-%s}\n---\n' "$2" "$1" "$3" "$2"
}
deploy() { # ns name wave
  printf 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: %s\n  namespace: %s\n  labels: {bench-wave: "%s"}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: %s}}\n  template:\n    metadata: {labels: {app: %s}}\n    spec:\n      containers: [{name: app, image: registry.example/bench:1, resources: {requests: {cpu: 1m, memory: 1Mi}}}]\n---\n' "$2" "$1" "$3" "$2" "$2"
}
gen() { # dir ns
  mkdir -p "$1"
  for w in 0 1 2; do
    f="$1/wave$w.yaml"; : > "$f"
    for i in $(seq 1 333); do cm "$2" "cm-$w-$i" "$w" >> "$f"; done
    [ "$w" = 0 ] && cm "$2" "cm-0-extra" 0 >> "$f"
    [ "$w" != 0 ] && for i in $(seq 1 100); do deploy "$2" "d-$w-$i" "$w" >> "$f"; done
  done
}

components() { # dir ns: one Component per wave file, in that wave
  for w in 0 1 2; do
    mkdir -p "$1/c$w/m"; mv "$1/wave$w.yaml" "$1/c$w/m/"
    printf 'apiVersion: weir.dev/v1alpha1\nkind: Component\nmetadata: {name: wave%s}\nspec: {namespace: %s, createNamespace: false, wave: %s, source: {path: m}}\n' "$w" "$2" "$w" > "$1/c$w/component.yaml"
  done
}

echo "== (a) 1,000 ConfigMaps + 200 Deployments in 3 waves"
NW=bench-weir-$RUN; NK=bench-kubectl-$RUN
k create namespace "$NW" >/dev/null; k create namespace "$NK" >/dev/null
gen "$WORK/weir" "$NW"; components "$WORK/weir" "$NW"; gen "$WORK/kubectl" "$NK"
t0=$(date +%s.%N)
"$WEIR" sync "$WORK/weir" --kubeconfig "$KCFG" --target "bench-$RUN" --timeout 10m --output json >"$WORK/weir.json" 2>"$WORK/weir.log" || { cat "$WORK/weir.log"; exit 1; }
t1=$(date +%s.%N)
W=$(echo "$t1 - $t0" | bc)
printf 'weir sync:                     %6.1f s  (of which apply: %.1f s, the rest — render, health gates: %.1f s; per wave: %s; requests: %s)\n' "$W" \
  "$(grep -o '"applySeconds": [0-9.]*' "$WORK/weir.json" | awk '{s += $2} END {print s}')" \
  "$(grep -o '"applySeconds": [0-9.]*' "$WORK/weir.json" | awk -v w="$W" '{s += $2} END {print w - s}')" \
  "$(grep -o '"seconds": [0-9.]*' "$WORK/weir.json" | head -3 | awk '{printf "%.1fs ", $2}')" \
  "$(tr -d ' \n' < "$WORK/weir.json" | grep -o '"requests":{[^}]*}')"
# The fake nodes hold a limited number of pods (3 untainted nodes x 110):
# free weir's 200 before kubectl starts, so both runs get the same room.
k delete namespace "$NW" --wait=true --timeout=5m >/dev/null
t1=$(date +%s.%N)
APPLY=0
for w in 0 1 2; do
  a0=$(date +%s.%N)
  k apply --server-side -f "$WORK/kubectl/wave$w.yaml" >/dev/null
  APPLY=$(echo "$APPLY + $(date +%s.%N) - $a0" | bc)
  if [ "$w" != 0 ]; then
    k -n "$NK" wait --for=condition=Available deployment -l bench-wave=$w --timeout=10m >/dev/null
  fi
done
t2=$(date +%s.%N)
K=$(echo "$t2 - $t1" | bc)
# What kubectl's waiting costs by itself: the same wait again, when every
# Deployment is already Available (kubectl wait takes the objects one at a
# time; weir watches a whole wave at once).
k -n "$NK" wait --for=condition=Available deployment -l bench-wave=2 --timeout=10m >/dev/null
t3=$(date +%s.%N)
printf 'kubectl apply + wait per wave: %6.1f s  (of which apply: %.1f s, waiting: %.1f s; a wait on 100 already Available Deployments alone: %.1f s)\nratio (kubectl / weir):        %6.1fx\n' \
  "$K" "$APPLY" "$(echo "$K - $APPLY" | bc)" "$(echo "$t3 - $t2" | bc)" "$(echo "$K / $W" | bc -l)"

echo "== (b) no-op re-sync of 5,000 objects"
NN=bench-noop-$RUN
mkdir -p "$WORK/noop"
{ for i in $(seq 1 5000); do cm "$NN" "cm-$i" 0; done; } > "$WORK/noop/all.yaml"
k create namespace "$NN" >/dev/null
t0=$(date +%s.%N)
"$WEIR" sync "$WORK/noop" --kubeconfig "$KCFG" --target "noop-$RUN" >/dev/null 2>"$WORK/noop.log" || { cat "$WORK/noop.log"; exit 1; }
t1=$(date +%s.%N)
"$WEIR" sync "$WORK/noop" --kubeconfig "$KCFG" --target "noop-$RUN" --output json >"$WORK/noop.json" 2>>"$WORK/noop.log"
t2=$(date +%s.%N)
printf 'first sync (5,000 created):   %6.1f s\nno-op re-sync:                %6.2f s  (%s)\n' \
  "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t1" | bc)" \
  "$(grep -o '"writes": [0-9]*' "$WORK/noop.json" | head -1)"

k delete namespace "$NK" "$NN" --wait=false >/dev/null
k -n weir-system delete configmap "weir-inventory-bench-$RUN" "weir-inventory-noop-$RUN" --ignore-not-found >/dev/null
