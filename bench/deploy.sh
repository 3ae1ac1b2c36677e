#!/usr/bin/env bash
# kiln deploy, end to end through the binary: runs examples/deploy-canary/run.sh ROUNDS times (a
# bad canary under load, caught by its alarm) and prints, from each stopped deployment's record,
# the time from the alarm's state change to traffic fully back on the last good revision
# (`kiln.rollback.trafficRestoredMs`), and the run's wall time.
# Usage: bench/deploy.sh [ROUNDS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-5}
cargo build --release -q -p kiln --manifest-path "$root/Cargo.toml"
export KILN="${CARGO_TARGET_DIR:-$root/target}/release/kiln"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ms=()
walls=()
for r in $(seq "$rounds"); do
  start=$(date +%s.%N)
  out=$(PORT=$port "$root/examples/deploy-canary/run.sh" 2>/dev/null)
  end=$(date +%s.%N)
  m=$(sed -n 's/.*traffic back on the last good revision \([0-9.]*\) ms after DEPLOYMENT_STOP_ON_ALARM.*/\1/p' <<<"$out" | head -1)
  [ -n "$m" ] || { echo "round $r: no rollback timing in the example's output" >&2; exit 1; }
  ms+=("$m")
  walls+=("$(python3 -c "print(f'{$end - $start:.1f}')")")
done
python3 - "${ms[*]}" "${walls[*]}" <<'PY'
import statistics, sys
ms = sorted(float(x) for x in sys.argv[1].split())
walls = sorted(float(x) for x in sys.argv[2].split())
def q(v, p): return v[min(len(v) - 1, int(round(p * (len(v) - 1))))]
print(f"| measure ({len(ms)} runs) | min | p50 | p90 | max |")
print("|---|---|---|---|---|")
print(f"| alarm → traffic back on v1 (ms) | {ms[0]:.2f} | {q(ms, .5):.2f} | {q(ms, .9):.2f} | {ms[-1]:.2f} |")
print(f"| example wall time, 2 builds + 2 deployments (s) | {walls[0]} | {q(walls, .5)} | {q(walls, .9)} | {walls[-1]} |")
PY
