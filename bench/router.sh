#!/usr/bin/env bash
# kiln-router overhead against a direct connection to the same upstream: latency added per
# request (median and p99 of sequential keep-alive requests) and requests per second with a fixed
# number of connections. Release build (cargo's bench profile). The load generator is the Rust one
# in runner/kiln-router/benches/router.rs; everything runs on loopback in one process.
# Usage: bench/router.sh [ROUNDS] [REQUESTS] [CONCURRENCY] [SECONDS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-5}
requests=${2:-5000}
concurrency=${3:-32}
seconds=${4:-2}
cargo bench -q -p kiln-router --bench router --manifest-path "$root/Cargo.toml" -- \
  --rounds "$rounds" --requests "$requests" --concurrency "$concurrency" --seconds "$seconds"
