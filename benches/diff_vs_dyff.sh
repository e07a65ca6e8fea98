#!/usr/bin/env bash
# Benchmark: `weir diff --base A --head B` against `dyff between`.
#
# Builds a Git repo whose config renders to 5,000 objects (50 components of
# 40 Deployments, 40 Services and 20 ConfigMaps), and a second commit that
# changes 50 of them (an image, a replica count, a config value). Then times,
# in one run:
#   - weir: the whole `weir diff --base A --head B` (reading both revisions
#     from Git objects, both renders, the diff, the text output), release build;
#   - dyff: `dyff between` on the two already-rendered YAML files alone.
# and prints both times (best of $RUNS) and the ratio. Goal: weir's whole run
# faster than dyff's diff alone, and under 1 s.
#
# Usage: benches/diff_vs_dyff.sh            (from the repository root)
# Env:   DYFF=path/to/dyff (default: the testenv cache, then /tmp/tools, then
#        PATH; built with `go install github.com/homeport/dyff/cmd/dyff@latest`
#        if none is found), WEIR=path/to/weir (default: a release build of
#        this tree), RUNS=3, KEEP=1 to keep the work directory.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
runs=${RUNS:-3}

find_dyff() {
    if [[ -n "${DYFF:-}" ]]; then echo "$DYFF"; return; fi
    for candidate in "$HOME"/.cache/weir/testenv/*/bin/dyff /tmp/tools/dyff; do
        if [[ -x "$candidate" ]]; then echo "$candidate"; return; fi
    done
    if command -v dyff >/dev/null; then command -v dyff; return; fi
    echo "building dyff into /tmp/tools (go install github.com/homeport/dyff/cmd/dyff@latest)" >&2
    GOBIN=/tmp/tools go install github.com/homeport/dyff/cmd/dyff@latest >&2
    echo /tmp/tools/dyff
}
dyff=$(find_dyff)

if [[ -n "${WEIR:-}" ]]; then
    weir=$WEIR
else
    echo "building weir (release)" >&2
    cargo build --release --quiet --manifest-path "$root/Cargo.toml"
    weir="$root/target/release/weir"
fi

work=$(mktemp -d)
if [[ -z "${KEEP:-}" ]]; then trap 'rm -rf "$work"' EXIT; else echo "work directory: $work" >&2; fi
repo="$work/repo"

echo "generating the config repo" >&2
python3 - "$repo" "$work" <<'PY'
import os, subprocess, sys

repo, work = sys.argv[1], sys.argv[2]
COMPONENTS, DEPLOYMENTS, SERVICES, CONFIGMAPS = 50, 40, 40, 20

def deployment(c, i, image, replicas):
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: svc-{i}
  namespace: team-{c}
  labels: {{app: svc-{i}, team: team-{c}}}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: svc-{i}}}
  template:
    metadata:
      labels: {{app: svc-{i}, team: team-{c}}}
    spec:
      containers:
        - name: app
          image: registry.example.com/team-{c}/svc-{i}:{image}
          args: [--port=8080, --log-level=info]
          ports:
            - {{containerPort: 8080, name: http}}
            - {{containerPort: 9090, name: metrics}}
          env:
            - {{name: TEAM, value: team-{c}}}
            - {{name: SERVICE, value: svc-{i}}}
          resources:
            requests: {{cpu: 100m, memory: 128Mi}}
            limits: {{cpu: 500m, memory: 256Mi}}
          readinessProbe:
            httpGet: {{path: /ready, port: http}}
        - name: proxy
          image: envoyproxy/envoy:v1.30.1
"""

def service(c, i):
    return f"""apiVersion: v1
kind: Service
metadata:
  name: svc-{i}
  namespace: team-{c}
spec:
  selector: {{app: svc-{i}}}
  ports:
    - {{name: http, port: 80, targetPort: http}}
    - {{name: metrics, port: 9090, targetPort: metrics}}
"""

def configmap(c, i, level):
    return f"""apiVersion: v1
kind: ConfigMap
metadata:
  name: config-{i}
  namespace: team-{c}
data:
  LOG_LEVEL: {level}
  app.properties: |
    threads=8
    timeout=30s
    cache.size=1024
    feature.flags=a,b,c
"""

def component(c):
    return f"""apiVersion: weir.dev/v1alpha1
kind: Component
metadata:
  name: team-{c}
spec:
  namespace: team-{c}
  source:
    path: manifests
  wave: {c % 3}
"""

def write(path, text):
    full = os.path.join(repo, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as f:
        f.write(text)

def generate(changed):
    """Writes the repo; returns the rendered YAML (all objects, one stream)."""
    rendered = []
    n = 0
    for c in range(COMPONENTS):
        write(f"team-{c}/component.yaml", component(c))
        for i in range(DEPLOYMENTS):
            n += 1
            image, replicas = ("v2", 2) if (c, i, "d") in changed else ("v1", 2)
            if (c, i, "r") in changed:
                replicas = 5
            doc = deployment(c, i, image, replicas)
            write(f"team-{c}/manifests/deployments/svc-{i}.yaml", doc)
            rendered.append(doc)
        for i in range(SERVICES):
            doc = service(c, i)
            write(f"team-{c}/manifests/services/svc-{i}.yaml", doc)
            rendered.append(doc)
        for i in range(CONFIGMAPS):
            doc = configmap(c, i, "debug" if (c, i, "c") in changed else "info")
            write(f"team-{c}/manifests/config/config-{i}.yaml", doc)
            rendered.append(doc)
    return "---\n" + "---\n".join(rendered)

def git(*args):
    subprocess.run(["git", "-C", repo, *args], check=True, stdout=subprocess.DEVNULL)

os.makedirs(repo)
git("init", "-q", "-b", "main")
git("config", "user.email", "bench@weir.dev")
git("config", "user.name", "bench")
with open(os.path.join(work, "a.yaml"), "w") as f:
    f.write(generate(set()))
git("add", "-A"); git("commit", "-qm", "A"); git("tag", "A")

# 50 changed objects: 20 images, 15 replica counts, 15 config values.
changed = set()
changed |= {(c, 0, "d") for c in range(20)}
changed |= {(c, 1, "r") for c in range(20, 35)}
changed |= {(c, 2, "c") for c in range(35, 50)}
with open(os.path.join(work, "b.yaml"), "w") as f:
    f.write(generate(changed))
git("add", "-A"); git("commit", "-qm", "B"); git("tag", "B")
# Packed, as a cloned repository is.
git("gc", "-q")
PY

objects=$(grep -c '^kind:' "$work/a.yaml")
echo "objects: $objects per revision" >&2

# Best wall-clock and best CPU (user + system) time of $runs runs of a
# command, in seconds, as "wall cpu"; stdout discarded. CPU time is the
# fairer figure on a busy machine.
best_time() {
    local best_wall="" best_cpu=""
    for _ in $(seq "$runs"); do
        local t wall cpu
        t=$( { TIMEFORMAT='%R %U %S'; time { "$@" >/dev/null 2>&1 || [[ $? -eq 1 ]]; }; } 2>&1 )
        read -r wall user sys <<<"$t"
        cpu=$(echo "$user + $sys" | bc)
        if [[ -z "$best_wall" ]] || (( $(echo "$wall < $best_wall" | bc) )); then best_wall=$wall; fi
        if [[ -z "$best_cpu" ]] || (( $(echo "$cpu < $best_cpu" | bc) )); then best_cpu=$cpu; fi
    done
    echo "$best_wall $best_cpu"
}

# Sanity: both tools see the 50 changes.
weir_changed=$("$weir" diff "$repo" --base A --head B --output json | python3 -c \
    'import json,sys; s=json.load(sys.stdin)["summary"]; print(s["changed"], s["added"], s["removed"], s["unchanged"])') || true
echo "weir: changed added removed unchanged = $weir_changed" >&2

read -r weir_wall weir_cpu <<<"$(best_time "$weir" diff "$repo" --base A --head B --output text --color never)"
read -r dyff_wall dyff_cpu <<<"$(best_time "$dyff" between --omit-header --set-exit-code "$work/a.yaml" "$work/b.yaml")"

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs (best of $runs runs)"
printf 'objects per revision:         %s (50 changed)\n' "$objects"
printf 'weir diff --base A --head B:  wall %.3f s, cpu %.3f s  (both revisions from Git, render, diff)\n' "$weir_wall" "$weir_cpu"
printf 'dyff between a.yaml b.yaml:   wall %.3f s, cpu %.3f s  (diff of the rendered files only)\n' "$dyff_wall" "$dyff_cpu"
printf 'ratio dyff / weir:            wall %.1fx, cpu %.1fx\n' \
    "$(echo "$dyff_wall / $weir_wall" | bc -l)" "$(echo "$dyff_cpu / $weir_cpu" | bc -l)"
if (( $(echo "$weir_wall < 1 && $weir_wall < $dyff_wall" | bc) )); then
    echo "goal met: weir's whole run is under 1 s and faster than dyff's diff alone"
else
    echo "goal NOT met on wall-clock time (see the load average above)"
fi
