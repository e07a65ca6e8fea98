#!/usr/bin/env bash
# Benchmark: `weir validate` on one hostile config repo of each class of
# issue 14 (tests/support/hostile_repos.rs: exponential patches, multiplying
# valuesFrom, a chart that renders for ever or renders gigabytes, many files
# each near the alias budget, absurd durations and counts, a commit raising
# the prune limits), each measured with /usr/bin/time -v against the goals:
# refused (exit 1) in under 5 s and under 200 MB peak memory (weir and the
# helm it runs: /usr/bin/time counts the largest of them).
#
#   benches/hostile_repos.sh                 # release build, real helm
#   WEIR=target/debug/weir benches/hostile_repos.sh
#
# helm comes from $WEIR_HELM, PATH, or the test environment's cache
# (`cargo xtask build-testenv`). Prints a table; exits 1 if a repo is not
# refused or misses a goal.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/weir-hostile.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
MAX_SECONDS=5
MAX_KB=$((200 * 1024))

find_helm() {
  if [[ -n "${WEIR_HELM:-}" ]]; then echo "$WEIR_HELM"; return; fi
  if command -v helm >/dev/null 2>&1; then command -v helm; return; fi
  for candidate in "$HOME"/.cache/weir/testenv/helm-*/bin/helm; do
    if [[ -x "$candidate" ]]; then echo "$candidate"; return; fi
  done
  echo "helm not found: run \`cargo xtask build-testenv\`, or set WEIR_HELM" >&2
  exit 2
}
export WEIR_HELM="$(find_helm)"

echo "building weir (release) and the repo generator..." >&2
(cd "$ROOT" && cargo build --quiet --release --bin weir && cargo build --quiet --example hostile_repos)
WEIR="${WEIR:-$ROOT/target/release/weir}"
GEN="$ROOT/target/debug/examples/hostile_repos"

printf '%-34s %5s %6s %8s %9s  %s\n' "class" "exit" "code" "seconds" "peak MB" "goals"
failed=0
while read -r class code; do
  repo="$WORK/$class"
  "$GEN" write "$class" "$repo"
  set +e
  /usr/bin/time -v -o "$WORK/$class.time" "$WEIR" validate "$repo" --output json >"$WORK/$class.out" 2>"$WORK/$class.err"
  rc=$?
  set -e
  elapsed="$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$WORK/$class.time")"
  seconds="$(awk -v t="$elapsed" 'BEGIN { n = split(t, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; printf "%.2f", s }')"
  kb="$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$WORK/$class.time")"
  found="$(grep -o "\"code\": \"$code\"" "$WORK/$class.out" | head -1 | grep -o 'E[0-9]*' || true)"
  verdict="ok"
  if [[ "$rc" != 1 || "$found" != "$code" ]]; then verdict="NOT REFUSED ($code expected)"; failed=1
  elif awk -v s="$seconds" -v m="$MAX_SECONDS" 'BEGIN { exit !(s >= m) }'; then verdict="TOO SLOW"; failed=1
  elif [[ "$kb" -ge "$MAX_KB" ]]; then verdict="TOO MUCH MEMORY"; failed=1
  fi
  printf '%-34s %5s %6s %8s %9s  %s\n' "$class" "$rc" "${found:--}" "$seconds" "$(awk -v k="$kb" 'BEGIN { printf "%.0f", k / 1024 }')" "$verdict"
done < <("$GEN" list)
exit "$failed"
