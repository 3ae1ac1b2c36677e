#!/usr/bin/env bash
# kiln-router overhead against a direct connection to the same upstream: latency added per
# request (median and p99 of sequential keep-alive requests) and requests per second with a fixed
# number of connections. Release build (cargo's bench profile). The load generator is the Rust one
# in runner/kiln-router/benches/router.rs; everything runs on loopback in one process. When `wrk`
# is installed (Debian package `wrk`), it measures both paths again from outside the process.
# Usage: bench/router.sh [ROUNDS] [REQUESTS] [CONCURRENCY] [SECONDS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-5}
requests=${2:-5000}
concurrency=${3:-32}
seconds=${4:-2}
cargo bench -q -p kiln-router --bench router --manifest-path "$root/Cargo.toml" -- \
  --rounds "$rounds" --requests "$requests" --concurrency "$concurrency" --seconds "$seconds"
command -v wrk >/dev/null || { echo; echo "(wrk not installed: apt-get install wrk for the outside measurement)"; exit 0; }
bin=$(cargo bench -q -p kiln-router --bench router --manifest-path "$root/Cargo.toml" --no-run --message-format=json 2>/dev/null \
  | python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("target", {}).get("name") == "router" and m.get("executable"):
        print(m["executable"])')
out=$(mktemp)
trap 'rm -f "$out"' EXIT
serve=$(( rounds * (2 * seconds + 2) + 5 ))
"$bin" --serve "$serve" > "$out" &
server=$!
for _ in $(seq 100); do grep -q '^direct=' "$out" && break; sleep 0.1; done
read -r direct router < <(sed -n 's/^direct=\(.*\) router=\(.*\)$/\1 \2/p' "$out")
echo
echo "wrk $(wrk --version 2>&1 | head -1 | cut -d' ' -f2), 1 thread, $concurrency connections, ${seconds}s per run, $rounds rounds (wrk shares the 2 cores)"
echo
echo "| round | direct req/s | router req/s | router/direct | direct avg latency | router avg latency |"
echo "|---|---|---|---|---|---|"
for r in $(seq "$rounds"); do
  d=$(wrk -t1 -c"$concurrency" -d"${seconds}s" "http://$direct/" 2>&1)
  v=$(wrk -t1 -c"$concurrency" -d"${seconds}s" "http://$router/" 2>&1)
  drps=$(awk '/Requests\/sec/ {print $2}' <<<"$d"); vrps=$(awk '/Requests\/sec/ {print $2}' <<<"$v")
  dlat=$(awk '$1 == "Latency" {print $2}' <<<"$d"); vlat=$(awk '$1 == "Latency" {print $2}' <<<"$v")
  derr=$(grep -c 'Non-2xx\|Socket errors' <<<"$d" || true); verr=$(grep -c 'Non-2xx\|Socket errors' <<<"$v" || true)
  [ "$derr$verr" = "00" ] || { echo "wrk saw errors:"; echo "$d"; echo "$v"; }
  echo "| $r | ${drps%.*} | ${vrps%.*} | $(python3 -c "print(f'{$vrps/$drps:.2f}')") | $dlat | $vlat |"
done
wait "$server"
