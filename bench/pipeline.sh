#!/usr/bin/env bash
# The pipeline engine's overhead per action: `kiln pipeline run` of a pipeline whose actions are
# one Source (git, confined) and N CodeBuild builds in sequence, against the same N `kiln build`s
# run by hand one after the other on the same tree (the commit exported with `git archive`, as
# the pipeline's builds get it: no .git to copy, no dirty check), with the same flags (--zip,
# sandboxed, signed provenance with an ephemeral key). The difference, divided by the pipeline's N+1 actions, is what the
# scheduler, the store (SQLite, fsync'd), the source archive, unpacking each input artifact and
# storing each output artifact cost per action. Runs are interleaved; the table shows min and
# median over RUNS rounds.
# Usage: bench/pipeline.sh [RUNS] [N]   (needs python3 and git)
#   KILN=/path/to/kiln bench/pipeline.sh   uses that binary instead of building one.
set -euo pipefail
runs=${1:-5}
n=${2:-4}
root=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${KILN:-}" ]; then
  cargo build --release -q -p kiln --manifest-path "$root/Cargo.toml"
fi
kiln=${KILN:-${CARGO_TARGET_DIR:-$root/target}/release/kiln}
echo "kiln pipeline benchmark as $(id -un), $runs rounds, $n builds, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
repo="$work/repo"
mkdir -p "$repo/ci"
printf 'version: 0.2\nphases:\n  build:\n    commands:\n      - mkdir -p out && echo built > out/a.txt\nartifacts:\n  files: [out/a.txt]\n' > "$repo/ci/buildspec.yml"
printf 'version: 1\nsources:\n  bench: {repository: .}\ncodebuild:\n  bench: {path: ci}\n' > "$repo/kiln-workspace.yml"
{
  printf 'pipeline:\n  name: bench\n  roleArn: arn:aws:iam::123456789012:role/b\n  artifactStore: {type: S3, location: b}\n  stages:\n'
  printf '    - name: Source\n      actions:\n        - name: Checkout\n          actionTypeId: {category: Source, owner: AWS, provider: CodeCommit, version: "1"}\n          configuration: {RepositoryName: bench, BranchName: main}\n          outputArtifacts: [{name: Src}]\n'
  printf '    - name: Build\n      actions:\n'
  for i in $(seq 1 "$n"); do
    printf '        - name: B%s\n          actionTypeId: {category: Build, owner: AWS, provider: CodeBuild, version: "1"}\n          runOrder: %s\n          configuration: {ProjectName: bench}\n          inputArtifacts: [{name: Src}]\n          outputArtifacts: [{name: Out%s}]\n' "$i" "$i" "$i"
  done
} > "$repo/pipeline.yml"
printf '.kiln/\n' > "$repo/.gitignore"
(cd "$repo" && git init -q -b main && git add -A && git -c user.email=b@example.invalid -c user.name=B commit -qm bench)
# The by-hand baseline builds what the pipeline's builds build: the commit's tree.
mkdir -p "$work/export/bench"
git -C "$repo" archive HEAD | tar -x -C "$work/export/bench"
cd "$repo"
python3 - "$runs" "$n" "$kiln" "$work/export/bench" <<'PY'
import statistics, subprocess, sys, time
runs, n, kiln, export = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
def by_hand():
    for _ in range(n):
        done = subprocess.run([kiln, "build", export, "-b", export + "/ci/buildspec.yml", "--zip"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if done.returncode != 0:
            sys.exit("kiln build failed")
def pipeline():
    done = subprocess.run([kiln, "pipeline", "run", "pipeline.yml", "-q"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if done.returncode != 0:
        sys.exit("kiln pipeline run failed")
hand, pipe = [], []
pipeline(); by_hand()  # warm the plugin compile cache and the page cache
for _ in range(runs):
    for f, out in ((by_hand, hand), (pipeline, pipe)):
        t = time.perf_counter(); f(); out.append(time.perf_counter() - t)
ms = lambda xs: (min(xs) * 1e3, statistics.median(xs) * 1e3)
(hmin, hmed), (pmin, pmed) = ms(hand), ms(pipe)
print()
print(f"| what | min (ms) | median (ms) |")
print(f"|---|---:|---:|")
print(f"| {n} x kiln build by hand | {hmin:.0f} | {hmed:.0f} |")
print(f"| kiln pipeline run (Source + {n} builds) | {pmin:.0f} | {pmed:.0f} |")
print(f"| overhead per action ({n + 1} actions) | {(pmin - hmin) / (n + 1):.1f} | {(pmed - hmed) / (n + 1):.1f} |")
PY
