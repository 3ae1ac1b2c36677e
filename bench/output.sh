#!/usr/bin/env bash
# Build output throughput with secrets configured: one build step prints SIZE MB of base64 text
# (76-column lines, a secret value in one line of every 1,000) and kiln masks it, writes the phase
# log and the build log, and streams it to the terminal (here /dev/null). The peer is the same
# command in bash with its output written to a log file through tee, the way a shell CI job
# keeps a log. Prints a markdown table of medians (and min-max) over RUNS runs, interleaved.
# Usage: bench/output.sh [SIZE_MB] [RUNS]      KILN=/path/to/kiln to bench a given binary.
set -euo pipefail
size=${1:-300}
runs=${2:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${KILN:-}" ]; then
  cargo build --release -q -p kiln --manifest-path "$root/Cargo.toml"
fi
kiln=${KILN:-${CARGO_TARGET_DIR:-$root/target}/release/kiln}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
secret='s3cr3t-BENCH-token-7f1c9a'
# Input made once, outside the timing: SIZE MB of base64 lines, the secret in every 1,000th.
mkdir -p "$work/p"
bytes=$((size * 1000 * 1000 * 57 / 77))
head -c "$bytes" /dev/urandom | base64 -w 76 | awk -v s="$secret" 'NR % 1000 == 0 { print "token=" s; next } { print }' > "$work/p/out.txt"
actual=$(stat -c %s "$work/p/out.txt")
cat > "$work/p/buildspec.yml" <<YML
version: 0.2
env:
  parameter-store:
    TOKEN: /bench/token
phases:
  build:
    commands:
      - cat out.txt
YML
printf 'parameters:\n  /bench/token: %s\n' "$secret" > "$work/secrets.yml"
chmod 600 "$work/secrets.yml"
echo "output throughput as $(id -un), $((actual / 1000000)) MB of output, $runs runs, load $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$runs" "$kiln" "$work" "$actual" "$secret" <<'PY'
import statistics, subprocess, sys, time, glob, os
runs, kiln, work, size, secret = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
cmds = {
    "bash, tee to a log": ["bash", "-c", f"cat {work}/p/out.txt | tee {work}/bash.log"],
    "kiln build (secrets masked)": [kiln, "build", f"{work}/p", "--in-place", "--secrets-file", f"{work}/secrets.yml"],
}
times = {n: [] for n in cmds}
for r in range(runs):
    for name, cmd in (cmds.items() if r % 2 == 0 else reversed(cmds.items())):
        t = time.monotonic()
        p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times[name].append(time.monotonic() - t)
        if p.returncode != 0:
            sys.exit(f"{name} exited {p.returncode}")
# The masking really happened: the newest build log has no secret and the masked lines.
logs = sorted(glob.glob(f"{work}/p/.kiln/builds/*/logs/build.log"), key=os.path.getmtime)
data = open(logs[-1], "rb").read()
assert secret.encode() not in data, "secret in the build log"
masked = data.count(b"token=***")
print(f"\nlast build.log: {len(data) // 1000000} MB, {masked} masked lines, secret absent\n")
print("| command | median | min-max | throughput (median) |")
print("|---|---:|---:|---:|")
for name, ts in times.items():
    m = statistics.median(ts)
    print(f"| {name} | {m:.2f} s | {min(ts):.2f}-{max(ts):.2f} s | {size / m / 1e6:.0f} MB/s |")
PY
