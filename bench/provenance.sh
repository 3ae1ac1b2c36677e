#!/usr/bin/env bash
# Provenance for a build with 1,000 artifacts: kiln's artifact hashing vs `sha256sum` on the same
# files, signing time, and `kiln verify` time. Prints a markdown table (medians of RUNS runs).
# Usage: bench/provenance.sh [RUNS] [FILES] [KIB_PER_FILE]   (builds and uses release kiln;
#        KILN=/path/to/kiln bench/provenance.sh … measures that binary instead)
set -euo pipefail
runs=${1:-5}
files=${2:-1000}
kib=${3:-256}
root=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${KILN:-}" ]; then
  cargo build --release -q -p kiln --manifest-path "$root/Cargo.toml"
fi
kiln="${KILN:-${CARGO_TARGET_DIR:-$root/target}/release/kiln}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/app/data" "$work/keys"
for i in $(seq 1 "$files"); do head -c $((kib * 1024)) /dev/urandom > "$work/app/data/f$i.bin"; done
(cd "$work/keys" && COSIGN_PASSWORD=bench "$kiln" generate-key-pair >/dev/null)
cat > "$work/app/buildspec.yml" <<'YML'
version: 0.2
phases:
  build:
    commands:
      - 'true'
artifacts:
  files: ['data/**/*']
  name: app
YML
ms() { python3 -c 'import sys,time; print(int(time.monotonic_ns()/1e6))'; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
: > "$work/upload" ; : > "$work/sign" ; : > "$work/prov" ; : > "$work/verify" ; : > "$work/sha"
for r in $(seq 1 "$runs"); do
  COSIGN_PASSWORD=bench "$kiln" build "$work/app" --json --key "$work/keys/cosign.key" > "$work/rec.json" 2> "$work/err.txt"
  python3 - "$work/rec.json" >> "$work/upload" <<'PY'
import json, sys, datetime
rec = json.load(open(sys.argv[1]))
p = [p for p in rec["phases"] if p["phaseType"] == "UPLOAD_ARTIFACTS"][0]
f = lambda s: datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
print(round((f(p["endTime"]) - f(p["startTime"])).total_seconds() * 1000, 1))
PY
  sed -n 's/.*provenance: [0-9]* subjects, signed in \([0-9.]*\) ms, written in \([0-9.]*\) ms.*/\1 \2/p' "$work/err.txt" > "$work/t"
  awk '{print $1}' "$work/t" >> "$work/sign"; awk '{print $2}' "$work/t" >> "$work/prov"
  rec=$(ls -td "$work"/app/.kiln/builds/*/ | head -1)
  t0=$(ms); "$kiln" verify --key "$work/keys/cosign.pub" --provenance "$rec/provenance.intoto.jsonl" "$rec/artifacts/app" > /dev/null; t1=$(ms)
  echo $((t1 - t0)) >> "$work/verify"
  t0=$(ms); (cd "$rec/artifacts/app" && find . -type f -print0 | xargs -0 sha256sum > /dev/null); t1=$(ms)
  echo $((t1 - t0)) >> "$work/sha"
done
mb=$(( files * kib / 1024 ))
sha=$(median < "$work/sha"); verify=$(median < "$work/verify"); upload=$(median < "$work/upload")
echo "| ${files} artifacts, ${mb} MiB, median of ${runs} | ms | MiB/s | vs sha256sum |"
echo "|---|---:|---:|---:|"
awk -v mb="$mb" -v s="$sha" -v n="sha256sum (same files, one process)" 'BEGIN{printf "| %s | %d | %.0f | 1.00x |\n", n, s, mb*1000/s}'
awk -v mb="$mb" -v s="$sha" -v t="$verify" 'BEGIN{printf "| kiln verify (hash every artifact + check signature) | %d | %.0f | %.2fx |\n", t, mb*1000/t, s/t}'
awk -v mb="$mb" -v s="$sha" -v t="$upload" 'BEGIN{printf "| kiln UPLOAD_ARTIFACTS (select + hash + copy + re-hash) | %.0f | %.0f | %.2fx |\n", t, mb*1000/t, s/t}'
echo "| kiln signing (dsse-signer plugin, host ECDSA P-256) | $(median < "$work/sign") | | |"
echo "| kiln provenance total (statement + signing + atomic write) | $(median < "$work/prov") | | |"
