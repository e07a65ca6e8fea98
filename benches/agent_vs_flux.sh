#!/usr/bin/env bash
# weir's agent against Flux, and the API server's own limit, in one run
# (see benches/agent_vs_flux.rs and benches/apply_ceiling.rs for what each
# measures): builds Flux's source-controller and kustomize-controller at
# their pinned versions (`cargo xtask tools`, cached), starts a control
# plane of its own with an audit log (requests are counted by user agent),
# measures the API server's server-side-apply ceiling, then drives the
# same workload through weir and Flux, and stops the control plane.
#
#   benches/agent_vs_flux.sh                  # idle for 5 minutes
#   IDLE_SECONDS=60 benches/agent_vs_flux.sh
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
STATE="$(mktemp -d "${TMPDIR:-/tmp}/weir-bench-flux.XXXXXX")"
export WEIR_TESTENV_STATE="$STATE" WEIR_TESTENV_AUDIT=1
cleanup() { (cd "$ROOT" && cargo xtask testenv down >/dev/null 2>&1 || true); rm -rf "$STATE"; }
trap cleanup EXIT
cd "$ROOT"
eval "$(cargo xtask tools --env)"
cargo xtask testenv up >&2
eval "$(cargo xtask testenv env)"
export WEIR_BENCH_AUDIT_LOG="$STATE/default/audit.log"
export WEIR_BENCH_CEILING_FILE="$STATE/ceiling"
cargo bench --bench apply_ceiling
cargo bench --bench agent_vs_flux
