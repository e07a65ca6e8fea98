#!/usr/bin/env bash
# Benchmark of `weir agent` (see benches/agent.rs for what it measures):
# starts a control plane of its own with an audit log (so requests can be
# counted by user agent), runs `cargo bench --bench agent` against it (a
# release build), and stops it.
#
#   benches/agent.sh                 # idle for 5 minutes
#   IDLE_SECONDS=60 benches/agent.sh
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
STATE="$(mktemp -d "${TMPDIR:-/tmp}/weir-bench-agent.XXXXXX")"
export WEIR_TESTENV_STATE="$STATE" WEIR_TESTENV_AUDIT=1
cleanup() { (cd "$ROOT" && cargo xtask testenv down >/dev/null 2>&1 || true); rm -rf "$STATE"; }
trap cleanup EXIT
cd "$ROOT"
cargo xtask testenv up >&2
eval "$(cargo xtask testenv env)"
export WEIR_BENCH_AUDIT_LOG="$STATE/default/audit.log"
cargo bench --bench agent
