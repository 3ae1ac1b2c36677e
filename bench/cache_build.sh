#!/usr/bin/env bash
# A Node project's build with a cold build cache (npm ci from the registry) against the same build
# with a warm one (node_modules restored by kiln's cache), in the same run. The buildspec is the
# usual CodeBuild one: `cache: key: npm-$(codebuild-hash-files package-lock.json), paths:
# node_modules/**/*`, and an install that skips `npm ci` when node_modules is there.
# Needs npm and the npm registry (the cold build runs with --network); prints a markdown table.
# Usage: bench/cache_build.sh [ROUNDS]   (KILN=/path/to/kiln to use that binary)
set -euo pipefail
rounds=${1:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${KILN:-}" ]; then
  cargo build --release -q -p kiln --manifest-path "$root/Cargo.toml"
fi
kiln=${KILN:-${CARGO_TARGET_DIR:-$root/target}/release/kiln}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
app="$work/app"
mkdir -p "$app"
cat > "$app/package.json" <<'EOF'
{"name": "bench-app", "version": "1.0.0", "private": true,
 "dependencies": {"express": "4.21.2", "lodash": "4.17.21", "typescript": "5.6.3", "moment": "2.30.1"}}
EOF
(cd "$app" && npm install --package-lock-only --no-audit --no-fund -q >/dev/null)
cat > "$app/buildspec.yml" <<'EOF'
version: 0.2
phases:
  install:
    commands:
      - if [ -d node_modules ]; then echo "node_modules restored"; else npm ci --no-audit --no-fund -q; fi
  build:
    commands:
      - node -e "require('express'); require('lodash'); require('moment'); require('typescript'); console.log('deps load')"
cache:
  key: npm-$(codebuild-hash-files package-lock.json)
  paths:
    - node_modules/**/*
EOF
files=0
echo "cache build benchmark: $rounds rounds, load $(cut -d' ' -f1-3 /proc/loadavg)"
cold=() warm=() restore_ms=() save_ms=()
for r in $(seq 1 "$rounds"); do
  store="$work/store-$r"
  for kind in cold warm; do
    start=$(date +%s.%N)
    "$kiln" build "$app" --network --cache-dir "$store" --json > "$work/out.json" 2> "$work/err.txt" || { cat "$work/err.txt"; exit 1; }
    end=$(date +%s.%N)
    t=$(python3 -c "print(f'{$end - $start:.2f}')")
    if [ "$kind" = cold ]; then cold+=("$t"); else warm+=("$t"); fi
    python3 - "$work/out.json" "$kind" >> "$work/phases.txt" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
ph = {p["phaseType"]: p.get("durationInSeconds") for p in r["phases"]}
c = r["kiln"].get("cache") or {}
print(sys.argv[2], (c.get("restored") or {}).get("files", 0), (c.get("restored") or {}).get("bytes", 0))
PY
  done
done
files=$(awk '$1=="warm"{print $2; exit}' "$work/phases.txt")
mb=$(awk '$1=="warm"{printf "%.0f MB", $3/1e6; exit}' "$work/phases.txt")
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo
echo "| build of a Node app (4 deps: $files files, $mb restored) | median s | all rounds |"
echo "|---|---:|---|"
echo "| cold cache: npm ci from the registry, then the cache saved | $(median "${cold[@]}") | ${cold[*]} |"
echo "| warm cache: node_modules restored, npm ci skipped | $(median "${warm[@]}") | ${warm[*]} |"
