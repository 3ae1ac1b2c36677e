#!/usr/bin/env bash
# kiln's overhead over plain bash: a five-command buildspec run by `kiln build` (sandboxed and not)
# against the same five commands in one bash process, in the same run. Two workloads, one markdown
# table each: "micro", five commands of ~5 ms (kiln's fixed costs dominate), and "build", five
# commands of 0.01-0.2 s (generate with awk, compress, sort, hash, archive), closer to a real build's steps.
# Usage: bench/overhead.sh [RUNS] [micro|build|both]   (needs python3)
#   KILN=/path/to/kiln bench/overhead.sh   uses that binary instead of building one (for example to
#   run the benchmark as an ordinary user: sudo -u someone KILN=$PWD/target/release/kiln bench/overhead.sh)
set -euo pipefail
runs=${1:-30}
workloads=${2:-both}
root=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${KILN:-}" ]; then
  cargo build --release -q -p kiln --manifest-path "$root/Cargo.toml"
fi
kiln=${KILN:-${CARGO_TARGET_DIR:-$root/target}/release/kiln}
echo "kiln overhead benchmark as $(id -un) (uid $(id -u)), $runs runs, load $(cut -d' ' -f1-3 /proc/loadavg)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# micro: five commands that do a little real work each (about 5 ms in bash).
micro=(
  'for i in $(seq 1 2000); do echo "line $i"; done > lines.txt'
  'COUNT=$(wc -l < lines.txt)'
  'sort -r lines.txt | head -n 3'
  'cd . && sha256sum lines.txt > sums.txt'
  'echo "count=$COUNT"'
)
# build: five commands of 0.01-0.2 s (about 0.35 s in all), the shape of a build's steps.
build=(
  'awk "BEGIN { srand(7); printf \"[\"; for (i = 0; i < 100000; i++) printf \"{\\\"id\\\": %d, \\\"v\\\": %.6f}, \", i, rand(); print \"{}]\" }" > data.json'
  'gzip -6 -k -f data.json && ls -l data.json.gz | cut -d" " -f5'
  'tr "{" "\n" < data.json | sort -t: -k3 | tail -n 1'
  'sha256sum data.json data.json.gz > sums.txt && wc -l < sums.txt'
  'tar cf data.tar data.json sums.txt && rm -f data.json.gz'
)

bench() { # name, commands...
  local name=$1; shift
  local dir="$work/$name"
  mkdir -p "$dir"
  {
    printf 'version: 0.2\nenv:\n  shell: bash\nphases:\n  build:\n    commands:\n'
    for c in "$@"; do printf "      - '%s'\n" "${c//\'/\'\'}"; done
  } > "$dir/buildspec.yml"
  printf '%s\n' "$@" > "$dir/plain.sh"
  echo
  echo "workload: $name"
  # Interleaved rounds (each runs every command once, the order alternating), so that load that
  # drifts during the run (this machine is shared) falls on all commands alike.
  (cd "$dir" && python3 - "$runs" "$kiln" <<'PY'
import statistics, subprocess, sys, time
runs, kiln = int(sys.argv[1]), sys.argv[2]
cmds = {
    "bash": ["bash", "--noprofile", "--norc", "plain.sh"],
    "kiln build": [kiln, "build", ".", "--in-place"],
    "kiln build (copy source)": [kiln, "build", "."],
    "kiln build --no-sandbox": [kiln, "build", ".", "--in-place", "--no-sandbox"],
}
times = {n: [] for n in cmds}
for r in range(runs + 3):
    order = list(cmds.items()) if r % 2 == 0 else list(reversed(cmds.items()))
    for name, argv in order:
        t = time.perf_counter()
        done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        dt = (time.perf_counter() - t) * 1000
        if done.returncode != 0:
            sys.exit(f"{name} failed (exit {done.returncode})")
        if r >= 3:
            times[name].append(dt)
base = statistics.median(times["bash"])
print("| command | median ms | p25–p75 ms | overhead vs bash (median) |")
print("|---|---:|---:|---:|")
for name, xs in times.items():
    xs.sort()
    q = lambda p: xs[round(p * (len(xs) - 1))]
    m = statistics.median(xs)
    over = "" if name == "bash" else f"{m - base:+.1f} ms ({(m - base) / base * 100:+.0f} %)"
    print(f"| {name} | {m:.1f} | {q(.25):.1f}–{q(.75):.1f} | {over} |")
PY
)
}

case $workloads in
  micro) bench micro "${micro[@]}" ;;
  build) bench build "${build[@]}" ;;
  both) bench micro "${micro[@]}"; bench build "${build[@]}" ;;
  *) echo "workload must be micro, build or both" >&2; exit 2 ;;
esac
