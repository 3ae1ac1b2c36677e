#!/usr/bin/env bash
# Secret scanners side by side, in one run: kiln secrets-scan (native engine and the wasm plugin
# run by kiln) against Kingfisher, Betterleaks, detect-secrets and the ripgrep anchor.
#   * speed: whole-process wall time (median of RUNS after one warm-up) and CPU time on the
#     ~200 MB tree from ../shared/tools/make_scanbench.sh (detect-secrets on its 1-in-10 sample);
#   * accuracy: recall/precision on ../shared/corpus/secrets by ../shared/tools/score_findings.py.
# Prints a markdown table. Peers come from ../shared/tools/install_peers.sh (run it once).
#
# Usage: bench/scanners.sh [RUNS=3]
#   TREE=/tmp/scanbench  KILN=/path/to/kiln (default: this repo's release build)  SKIP_SLOW=1 (no detect-secrets)
set -euo pipefail
runs=${1:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
shared=$(cd "$root/../shared" && pwd)
corpus=$shared/corpus/secrets
tree=${TREE:-/tmp/scanbench}
kiln=${KILN:-${CARGO_TARGET_DIR:-$root/target}/release/kiln}
kingfisher=${KINGFISHER:-/tmp/peers-extra/bin/kingfisher}
betterleaks=${BETTERLEAKS:-/tmp/peers-extra/bin/betterleaks}
detect_secrets=${DETECT_SECRETS:-/tmp/peers-venv/bin/detect-secrets}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

[ -d "$tree" ] || "$shared/tools/make_scanbench.sh" "$tree" 200 >&2
sample=${tree}-sample10
[ -d "$sample" ] || "$shared/tools/make_scanbench.sh" --sample 10 "$tree" "$sample" >&2
bytes() { find "$1" -type f -printf '%s\n' | awk '{s += $1} END {print s}'; }
tree_bytes=$(bytes "$tree"); sample_bytes=$(bytes "$sample")

echo "building kiln, the native engine example and the wasm plugin..." >&2
[ -n "${KILN:-}" ] || (cd "$root" && cargo build -q --release -p kiln)
(cd "$root" && CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target} cargo build -q --release -p kiln-secrets-scan-engine --example secrets_scan)
native=${CARGO_TARGET_DIR:-$root/target}/release/examples/secrets_scan
wasm_target=${WASM_TARGET_DIR:-$root/plugins/target}
(cd "$root/plugins" && CARGO_TARGET_DIR=$wasm_target cargo build -q --release --target wasm32-wasip2 -p secrets-scan)
wasm=$wasm_target/wasm32-wasip2/release/secrets_scan.wasm

# A kiln project around a directory (hard links, no copy), scanned by the plugin with --in-place.
make_project() { # SRC DEST
  mkdir -p "$2"; cp -al "$1" "$2/tree"; cp "$wasm" "$2/secrets_scan.wasm"
  printf 'version: 0.2\nphases:\n  build:\n    commands:\n      - uses: ./secrets_scan.wasm\n        with:\n          exclude: ["*.wasm", ".kiln"]\n' > "$2/buildspec.yml"
}
# Runs kiln in PROJECT; prints the plugin's own duration (ms) and copies its SARIF to OUT.
kiln_plugin() { # PROJECT OUT
  rm -rf "$1/.kiln"
  "$kiln" build --in-place "$1" > "$work/kiln.log" 2>&1 || true
  local rec; rec=$(ls -d "$1"/.kiln/builds/*/ | head -1)
  [ -n "${2:-}" ] && cp "$(find "$rec" -name secrets.sarif | head -1)" "$2"
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); p=r["kiln"]["plugins"][0]; print(p["durationMs"])' "$rec/build.json"
  grep -o 'secrets-scan: walk.*' "$work/kiln.log" | tail -1 >> "$work/wasm-phases.txt" || true
}

# time_cmd NAME DIR CMD...: median wall and cpu over runs (after a warm-up), in seconds
time_cmd() {
  local name=$1 dir=$2; shift 2
  [ -n "${NO_WARMUP:-}" ] || (cd "$dir" && "$@" >/dev/null 2>&1) || true
  local walls=() cpus=()
  for _ in $(seq "$runs"); do
    (cd "$dir" && /usr/bin/time -f '%e %U %S' -o "$work/t" "$@" >/dev/null 2>&1) || true
    read -r w u s < <(tail -n 1 "$work/t")   # a failing exit status adds a line before
    walls+=("$w"); cpus+=("$(echo "$u + $s" | bc)")
  done
  printf '%s %s\n' "$(printf '%s\n' "${walls[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p")" \
    "$(printf '%s\n' "${cpus[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p")"
}

score() { # FINDINGS -> "recall precision"
  python3 "$shared/tools/score_findings.py" "$corpus/LABELS.tsv" "$1" --json "$work/s.json" >/dev/null
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%.3f %.3f" % (d["recall"], d["precision"]))' "$work/s.json"
}

rows=()
row() { # NAME TREE-LABEL BYTES WALL CPU RECALL PRECISION
  local mbs; mbs=$(echo "scale=1; $3 / 1000000 / $4" | bc)
  rows+=("| $1 | $2 | $4 | $5 | $mbs | $6 | $7 |")
  echo "${rows[-1]}" >&2   # progress
}

# --- kiln native engine
"$native" "$corpus/files" --sarif "$work/kiln-native.sarif" >/dev/null 2>&1
read -r r p < <(score "$work/kiln-native.sarif")
read -r w c < <(time_cmd native "$tree" "$native" "$tree")
row "kiln secrets-scan (native engine, 1 thread)" "200 MB tree" "$tree_bytes" "$w" "$c" "$r" "$p"

# --- kiln wasm plugin, run by kiln (plugin duration from the build record)
if [ -x "$kiln" ]; then
  make_project "$corpus/files" "$work/pc"
  kiln_plugin "$work/pc" "$work/kiln-wasm.sarif" >/dev/null
  sed -i 's#"uri": "tree/#"uri": "files/#g' "$work/kiln-wasm.sarif"
  read -r r p < <(score "$work/kiln-wasm.sarif")
  make_project "$tree" "$work/pt"
  kiln_plugin "$work/pt" >/dev/null   # warm-up (fills the compile cache)
  ms=(); for _ in $(seq "$runs"); do ms+=("$(kiln_plugin "$work/pt")"); done
  med=$(printf '%s\n' "${ms[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p")
  row "kiln secrets-scan (wasm plugin via \`kiln build\`, plugin time)" "200 MB tree" "$tree_bytes" "$(echo "scale=3; $med / 1000" | bc)" "–" "$r" "$p"
  # The whole \`kiln build\` process (start, sandbox, the step, record, provenance), as the peers are timed.
  read -r w c < <(time_cmd kiln-build "$work/pt" "$kiln" build --in-place .)
  row "kiln build with the secrets-scan step (whole process)" "200 MB tree" "$tree_bytes" "$w" "$c" "$r" "$p"
fi

# --- Kingfisher
if [ -x "$kingfisher" ]; then
  (cd "$corpus" && "$kingfisher" scan files --no-validate --no-update-check -f sarif -o "$work/kf.sarif" >/dev/null 2>&1) || true
  read -r r p < <(score "$work/kf.sarif")
  read -r w c < <(time_cmd kingfisher "$tree" "$kingfisher" scan . --no-validate --no-update-check -f sarif -o "$work/kf-tree.sarif")
  row "Kingfisher 2.14" "200 MB tree" "$tree_bytes" "$w" "$c" "$r" "$p"
fi

# --- Betterleaks
if [ -x "$betterleaks" ]; then
  (cd "$corpus" && "$betterleaks" fs files --no-banner -o "$work/bl.json" >/dev/null 2>&1) || true
  read -r r p < <(score "$work/bl.json")
  read -r w c < <(time_cmd betterleaks "$tree" "$betterleaks" fs . --no-banner -o "$work/bl-tree.json")
  row "Betterleaks 2.0.0-rc.4" "200 MB tree" "$tree_bytes" "$w" "$c" "$r" "$p"
fi

# --- ripgrep anchor (24 regexes, no filtering)
rg --no-unicode -uu -n -o --no-heading -f "$corpus/anchor-patterns.rg.txt" "$corpus/files" \
  | sed "s#^$corpus/##" > "$work/rg.txt" || true
read -r r p < <(score "$work/rg.txt")
read -r w c < <(time_cmd rg "$tree" rg --no-unicode -uu -n -o --no-heading -f "$corpus/anchor-patterns.rg.txt" .)
row "ripgrep + 24 regexes (anchor)" "200 MB tree" "$tree_bytes" "$w" "$c" "$r" "$p"

# --- detect-secrets (too slow for the full tree: the 1-in-10 sample)
if [ -x "$detect_secrets" ] && [ -z "${SKIP_SLOW:-}" ]; then
  (cd "$corpus" && "$detect_secrets" scan --all-files --no-verify files > "$work/ds.json" 2>/dev/null) || true
  read -r r p < <(score "$work/ds.json")
  ds_runs=$runs; runs=1   # minutes per run: once, without a warm-up
  read -r w c < <(NO_WARMUP=1 time_cmd detect-secrets "$sample" "$detect_secrets" scan --all-files --no-verify .)
  runs=$ds_runs
  row "detect-secrets 1.5" "1/10 sample" "$sample_bytes" "$w" "$c" "$r" "$p"
  read -r w c < <(time_cmd native-sample "$sample" "$native" "$sample")
  row "kiln secrets-scan (native engine)" "1/10 sample" "$sample_bytes" "$w" "$c" "–" "–"
fi

echo
echo "Trees: 200 MB tree = $tree ($tree_bytes bytes, $(find "$tree" -type f | wc -l) files); sample = $sample ($sample_bytes bytes). Runs: $runs (median), load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
echo
[ -s "$work/wasm-phases.txt" ] && echo "wasm plugin phases (its own log, last run): $(tail -1 "$work/wasm-phases.txt")" && echo
echo "| tool | tree | wall s (median) | cpu s | MB/s (wall) | recall | precision |"
echo "|---|---|---:|---:|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
