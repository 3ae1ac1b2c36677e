#!/usr/bin/env bash
# Batch builds: what running eight builds as one `kiln build --batch` costs and saves, against the
# same eight builds as eight `kiln build` runs one after the other, in the same run. Two workloads,
# one markdown table each: "trivial" (each build runs one command that does nothing: kiln's fixed
# cost per build, and whether a batch adds to it) and "sleep" (each build sleeps 1 s: how much of
# the waiting `--parallel` overlaps). Every build is sandboxed and gets its own working copy,
# record and signed provenance, as usual.
# Usage: bench/batch.sh [RUNS] [trivial|sleep|both]   (needs python3)
#   KILN=/path/to/kiln bench/batch.sh   uses that binary instead of building one.
set -euo pipefail
runs=${1:-5}
workloads=${2:-both}
root=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${KILN:-}" ]; then
  cargo build --release -q -p kiln --manifest-path "$root/Cargo.toml"
fi
kiln=${KILN:-${CARGO_TARGET_DIR:-$root/target}/release/kiln}
echo "kiln batch benchmark as $(id -un), $runs runs, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

bench() { # name, command
  local name=$1 command=$2
  local dir="$work/$name"
  mkdir -p "$dir"
  {
    printf 'version: 0.2\nbatch:\n  build-list:\n'
    for i in 1 2 3 4 5 6 7 8; do printf '    - identifier: b%s\n' "$i"; done
    printf 'phases:\n  build:\n    commands:\n      - %s\n      - mkdir -p out && echo "$CODEBUILD_BATCH_BUILD_IDENTIFIER" > out/id.txt\n' "$command"
    printf 'artifacts:\n  files: [out/id.txt]\n'
  } > "$dir/buildspec.yml"
  echo
  echo "workload: $name (8 builds, each: $command)"
  (cd "$dir" && python3 - "$runs" "$kiln" <<'PY'
import statistics, subprocess, sys, time
runs, kiln = int(sys.argv[1]), sys.argv[2]
def sequential():
    for i in range(1, 9):
        done = subprocess.run([kiln, "build", ".", "--env", f"CODEBUILD_BATCH_BUILD_IDENTIFIER=b{i}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if done.returncode != 0:
            sys.exit(f"kiln build failed (exit {done.returncode})")
def batch(p):
    def run():
        done = subprocess.run([kiln, "build", ".", "--batch", "--parallel", str(p)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if done.returncode != 0:
            sys.exit(f"kiln build --batch --parallel {p} failed (exit {done.returncode})")
    return run
cmds = {"8 x kiln build": sequential, **{f"kiln build --batch --parallel {p}": batch(p) for p in (1, 2, 4, 8)}}
times = {n: [] for n in cmds}
for r in range(runs + 1):
    order = list(cmds.items()) if r % 2 == 0 else list(reversed(cmds.items()))
    for name, run in order:
        t = time.perf_counter()
        run()
        if r >= 1:
            times[name].append(time.perf_counter() - t)
base = statistics.median(times["8 x kiln build"])
print("| how | median s | min–max s | per build (median) ms | vs 8 x kiln build |")
print("|---|---:|---:|---:|---:|")
for name, xs in times.items():
    m = statistics.median(xs)
    print(f"| {name} | {m:.2f} | {min(xs):.2f}–{max(xs):.2f} | {m / 8 * 1000:.0f} | {m / base:.2f}x |")
PY
)
}

case $workloads in
  trivial) bench trivial true ;;
  sleep) bench sleep "sleep 1" ;;
  both) bench trivial true; bench sleep "sleep 1" ;;
  *) echo "workload must be trivial, sleep or both" >&2; exit 2 ;;
esac
