#!/usr/bin/env bash
# How fast `kiln pipeline watch` starts a run after a push: a repository with a V2 pipeline
# (Source → Manual approval, so no build competes for the CPU), a watcher polling every
# INTERVAL seconds, and PUSHES commits one after another; for each, the time from the commit
# being written (`git commit` returned: the ref moved before that) to the watcher's
# `run started` line (the move decided, the changed files read by the sandboxed git, the run
# recorded with the ref in one fsync'd transaction). Pushes land at a random phase of the polls,
# so the median is about half the interval plus the decision, and the min approaches the
# decision's own cost; the table shows min, median and max.
# Usage: bench/pipeline_watch.sh [PUSHES] [INTERVAL] [WATCH FLAGS…]   (needs python3 and git)
#   e.g. bench/pipeline_watch.sh 20 0.2 --no-sandbox   to see what confining git costs.
#   KILN=/path/to/kiln bench/pipeline_watch.sh   uses that binary instead of building one.
set -euo pipefail
pushes=${1:-20}
interval=${2:-0.2}
shift $(( $# > 2 ? 2 : $# ))
root=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${KILN:-}" ]; then
  cargo build --release -q -p kiln --manifest-path "$root/Cargo.toml"
fi
kiln=${KILN:-${CARGO_TARGET_DIR:-$root/target}/release/kiln}
echo "kiln pipeline watch benchmark as $(id -un), $pushes pushes, interval $interval s, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
repo="$work/repo"
mkdir -p "$repo"
printf 'version: 1\nsources:\n  acme/app: {repository: .}\n' > "$repo/kiln-workspace.yml"
cat > "$repo/pipeline.yml" <<'YAML'
pipeline:
  name: bench
  pipelineType: V2
  roleArn: arn:aws:iam::123456789012:role/b
  artifactStore: {type: S3, location: b}
  triggers:
    - providerType: CodeStarSourceConnection
      gitConfiguration:
        sourceActionName: Checkout
        push:
          - branches: {includes: [main]}
            filePaths: {excludes: ['**/*.md']}
  stages:
    - name: Source
      actions:
        - name: Checkout
          actionTypeId: {category: Source, owner: AWS, provider: CodeStarSourceConnection, version: '1'}
          configuration: {BranchName: main, ConnectionArn: 'arn:aws:codestar-connections:us-east-1:123456789012:connection/x', FullRepositoryId: acme/app}
          outputArtifacts: [{name: Src}]
    - name: Gate
      actions:
        - name: Approve
          actionTypeId: {category: Approval, owner: AWS, provider: Manual, version: '1'}
YAML
printf '.kiln/\n' > "$repo/.gitignore"
(cd "$repo" && git init -q -b main && git add -A && git -c user.email=b@example.invalid -c user.name=B commit -qm bench)
cd "$repo"
python3 - "$pushes" "$interval" "$kiln" "$@" <<'PY'
import random, statistics, subprocess, sys, time
pushes, interval, kiln, flags = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
w = subprocess.Popen([kiln, "pipeline", "watch", "pipeline.yml", "--workspace", "kiln-workspace.yml", "--interval", interval, "-q", *flags], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
line = w.stdout.readline()
assert line.startswith("watching "), line
lat = []
try:
    for i in range(pushes):
        with open("app.txt", "w") as f:
            f.write(f"change {i}\n")
        subprocess.run(["git", "add", "app.txt"], check=True)
        subprocess.run(["git", "-c", "user.email=b@example.invalid", "-c", "user.name=B", "commit", "-qm", f"change {i}"], check=True)
        t = time.perf_counter()
        line = w.stdout.readline()
        lat.append(time.perf_counter() - t)
        assert line.startswith("run started: "), line
        # A random phase against the watcher's polls (a push right after a detection would
        # otherwise always wait almost a whole interval).
        time.sleep(random.uniform(0, float(interval)))
finally:
    w.kill()
ms = [x * 1e3 for x in lat]
print()
print("| push → run started (ms) | min | median | max |")
print("|---|---|---|---|")
print(f"| interval {interval} s, {pushes} pushes{' ' + ' '.join(flags) if flags else ''} | {min(ms):.1f} | {statistics.median(ms):.1f} | {max(ms):.1f} |")
PY
