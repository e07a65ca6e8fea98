#!/usr/bin/env bash
# Benchmark: `weir validate` against kubeconform on the same 5,000 manifests
# (Deployments, Services, ConfigMaps and custom resources of a CRD the repo
# defines), with the same schemas: kubeconform gets standalone JSON Schemas
# converted from the compact OpenAPI and the CRD that weir uses, from local
# files only (it never touches the network).
#
#   benches/validate_vs_kubeconform.sh            # 5,000 manifests, best of 3
#   COUNT=20000 RUNS=5 benches/validate_vs_kubeconform.sh
#
# kubeconform comes from $KUBECONFORM, PATH, the test environment's cache
# (`cargo xtask build-testenv`), or /tmp/tools. This is a benchmark, not a test:
# it prints times and the ratio, and fails only if a tool reports the
# (valid) manifests as invalid.
set -euo pipefail

COUNT="${COUNT:-5000}"
RUNS="${RUNS:-3}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/weir-bench.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

find_kubeconform() {
  if [[ -n "${KUBECONFORM:-}" ]]; then echo "$KUBECONFORM"; return; fi
  if command -v kubeconform >/dev/null 2>&1; then command -v kubeconform; return; fi
  for candidate in "$HOME"/.cache/weir/testenv/kubeconform-*/bin/kubeconform /tmp/tools/kubeconform; do
    if [[ -x "$candidate" ]]; then echo "$candidate"; return; fi
  done
  echo "kubeconform not found: run \`cargo xtask build-testenv\`, or set KUBECONFORM=/path/to/kubeconform" >&2
  exit 2
}
KUBECONFORM_BIN="$(find_kubeconform)"

echo "building weir (release)..." >&2
(cd "$ROOT" && cargo build --quiet --release --bin weir --example bench_fixture)
# WEIR=path/to/weir measures another build (e.g. before a change) on the same fixture.
WEIR="${WEIR:-$ROOT/target/release/weir}"
"$ROOT/target/release/examples/bench_fixture" "$WORK/repo" "$WORK/schemas" "$COUNT"

# best_of NAME CMD...: runs CMD $RUNS times; prints "WALL_MS CPU_MS" of the
# run with the shortest wall time (CPU = user + system, all threads).
best_of() {
  local name="$1"; shift
  local best="" best_cpu="" wall cpu
  for _ in $(seq "$RUNS"); do
    if ! /usr/bin/time -f "%e %U %S" -o "$WORK/$name.time" "$@" >"$WORK/$name.out" 2>&1; then
      echo "$name reported the benchmark manifests as invalid:" >&2
      tail -20 "$WORK/$name.out" >&2
      exit 1
    fi
    read -r wall user sys <"$WORK/$name.time"
    wall="$(awk -v w="$wall" 'BEGIN { printf "%d", w * 1000 }')"
    cpu="$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%d", (u + s) * 1000 }')"
    if [[ -z "$best" || "$wall" -lt "$best" ]]; then best="$wall"; best_cpu="$cpu"; fi
  done
  echo "$best $best_cpu"
}

read -r WEIR_MS WEIR_CPU <<<"$(best_of weir "$WEIR" validate "$WORK/repo" --output json)"
read -r KC_MS KC_CPU <<<"$(best_of kubeconform "$KUBECONFORM_BIN" -strict -summary \
  -schema-location "$WORK/schemas/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json" \
  "$WORK/repo")"

echo "kubeconform: $(tail -1 "$WORK/kubeconform.out")"
echo "weir:        $(grep -o '"documents": [0-9]*' "$WORK/weir.out" | head -1), $(grep -o '"valid": [a-z]*' "$WORK/weir.out")"
echo
printf '%-12s %8s ms wall %8s ms cpu\n' "weir" "$WEIR_MS" "$WEIR_CPU" "kubeconform" "$KC_MS" "$KC_CPU"
awk -v w="$WEIR_MS" -v k="$KC_MS" -v wc="$WEIR_CPU" -v kc="$KC_CPU" -v n="$COUNT" -v r="$RUNS" 'BEGIN {
  if (w < 1) w = 1; if (wc < 1) wc = 1;
  printf "%d manifests, best of %d runs: kubeconform/weir = %.2f (wall time), %.2f (CPU time)\n", n, r, k / w, kc / wc
}'
