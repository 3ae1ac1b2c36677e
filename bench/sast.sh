#!/usr/bin/env bash
# kiln's `sast` plugin against the offline SAST peers on ../shared/corpus/sast, in one run:
# accuracy (../shared/tools/score_findings.py) and wall time. Prints markdown tables.
#
#   bench/sast.sh [RUNS]
#
# Peers are the ones ../shared/tools/install_peers.sh installs under /tmp (bandit in
# /tmp/peers-venv, checkov in /tmp/checkov-venv, eslint-plugin-security in /tmp/eslint-peer);
# the installer is run if one is missing. semgrep needs a local semgrep-rules checkout that is not
# available here: its row is quoted from ../shared/corpus/PEERS-secrets-sast.md, not measured.
# kiln runs twice: the native engine (`scan` example) and the wasm plugin through a kiln binary
# (KILN=path, default target/release/kiln) as a `uses:` step.
set -euo pipefail
runs=${1:-5}
root=$(cd "$(dirname "$0")/.." && pwd)
shared=$(cd "$root/../shared" && pwd)
corpus="$shared/corpus/sast"
score="$shared/tools/score_findings.py"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

[ -x /tmp/peers-venv/bin/bandit ] && [ -x /tmp/checkov-venv/bin/checkov ] && [ -x /tmp/eslint-peer/node_modules/.bin/eslint ] \
  || bash "$shared/tools/install_peers.sh" >&2

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
cargo build -q --release -p kiln-sast-engine --example scan --manifest-path "$root/Cargo.toml"
scan="$CARGO_TARGET_DIR/release/examples/scan"
(cd "$root/plugins" && CARGO_TARGET_DIR="${WASM_TARGET_DIR:-$root/plugins/target}" \
  cargo build -q --release --target wasm32-wasip2 -p sast)
wasm="${WASM_TARGET_DIR:-$root/plugins/target}/wasm32-wasip2/release/sast.wasm"
kiln=${KILN:-${CARGO_TARGET_DIR:-$root/target}/release/kiln}
[ -x "$kiln" ] || kiln="${CARGO_TARGET_DIR:-$root/target}/release/kiln"

# median wall seconds of RUNS runs of a command (run from the corpus directory)
timeit() {
  python3 - "$runs" "$@" <<'PY'
import statistics, subprocess, sys, time, os
runs, cmd = int(sys.argv[1]), sys.argv[2:]
ts = []
for _ in range(runs):
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=os.environ["CORPUS"])
    ts.append(time.perf_counter() - t)
print(f"{statistics.median(ts):.3f}")
PY
}
export CORPUS="$corpus"

# --- kiln, native engine
(cd "$corpus" && "$scan" files > "$work/kiln-native.txt")
t_native=$(timeit "$scan" files)

# --- kiln, wasm plugin through `kiln build` (a project holding the corpus files)
proj="$work/proj"; mkdir -p "$proj/tools"; cp -r "$corpus/files" "$proj/"; cp "$wasm" "$proj/tools/sast.wasm"
printf 'version: 0.2\nphases:\n  build:\n    commands:\n      - uses: ./tools/sast.wasm\n        with:\n          exclude: ["tools"]\n' > "$proj/buildspec.yml"
(cd "$proj" && "$kiln" build >/dev/null 2>&1 || true)      # warm the compile cache
plugin_ms=()
for _ in $(seq "$runs"); do
  ms=$(cd "$proj" && "$kiln" build 2>&1 | sed -n 's/.*plugin sast [^:]*: [a-z]* in \([0-9]*\) ms.*/\1/p' | tail -1)
  plugin_ms+=("${ms:-0}")
done
sarif=$(ls -t "$proj"/.kiln/builds/*/plugins/*/sast.sarif | head -1)
cp "$sarif" "$work/kiln.sarif"
t_plugin=$(printf '%s\n' "${plugin_ms[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.3f", a[int((NR+1)/2)]/1000}')

# --- peers
(cd "$corpus" && /tmp/peers-venv/bin/bandit -q -r files -f json -o "$work/bandit.json" >/dev/null 2>&1 || true)
t_bandit=$(timeit /tmp/peers-venv/bin/bandit -q -r files -f json -o "$work/bandit-t.json")
eslint=(/tmp/eslint-peer/node_modules/.bin/eslint -c /tmp/eslint-peer/eslint.config.mjs -f json files/js files/ts)
(cd "$corpus" && "${eslint[@]}" > "$work/eslint.json" 2>/dev/null || true)
t_eslint=$(timeit "${eslint[@]}")
checkov=(/tmp/checkov-venv/bin/checkov -d files --framework dockerfile kubernetes github_actions -o sarif --skip-download --output-file-path "$work/checkov")
(cd "$corpus" && "${checkov[@]}" >/dev/null 2>&1 || true)
t_checkov=$(timeit "${checkov[@]}")

row() {  # name findings seconds [--include ...]
  local name=$1 file=$2 secs=$3; shift 3
  python3 "$score" "$corpus/LABELS.tsv" "$file" --root "$corpus" --json "$work/s.json" "$@" >/dev/null
  python3 - "$work/s.json" "$name" "$secs" <<'PY'
import json, sys
d, name, secs = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
true = d["tp"] + d["fn"]
print(f"| {name} | {true} | {d['tp']} | {d['fn']} | {d['fp_decoy']} | {d['fp_unlabelled']} | "
      f"{d['recall']:.3f} | {d['precision']:.3f} | **{d['f1']:.3f}** | {secs} |")
PY
}
py=(--include files/python/); jsts=(--include files/js/ --include files/ts/)
infra=(--include files/docker/ --include files/deploy/ --include files/.github/)
echo "| tool | scope | true | TP | FN | decoys hit | unlabelled FP | recall | precision | F1 | wall s (median of $runs) |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
row "kiln sast (wasm plugin, in kiln build) | all" "$work/kiln.sarif" "$t_plugin (plugin step)"
row "kiln sast (native engine) | all" "$work/kiln-native.txt" "$t_native"
echo "| semgrep community rules, all categories (PEERS file, not re-run) | all | 123 | 74 | 49 | 11 | 9 | 0.602 | 0.787 | **0.682** | 122.9 on the 19 MB sample |"
row "kiln sast | Python" "$work/kiln.sarif" "" "${py[@]}"
row "bandit | Python" "$work/bandit.json" "$t_bandit" "${py[@]}"
row "kiln sast | JS/TS" "$work/kiln.sarif" "" "${jsts[@]}"
row "eslint-plugin-security | JS/TS" "$work/eslint.json" "$t_eslint" "${jsts[@]}"
row "kiln sast | Dockerfile/k8s/compose/GHA" "$work/kiln.sarif" "" "${infra[@]}"
row "checkov | Dockerfile/k8s/compose/GHA" "$work/checkov/results_sarif.sarif" "$t_checkov" "${infra[@]}"
echo
echo "kiln per area:"
python3 "$score" "$corpus/LABELS.tsv" "$work/kiln.sarif" --group-by dir | sed 's/^/    /'

# --- Throughput on a large Python tree (LARGE=dir, default the scanbench site-packages): the
# whole `kiln build` process with the built-in sast step against `bandit -r` on the same files.
large=${LARGE:-/tmp/scanbench/py-site-packages-1}
if [ -d "$large" ]; then
  lp="$work/large"; mkdir -p "$lp"; cp -al "$large" "$lp/tree"
  printf 'version: 0.2\nphases:\n  build:\n    commands:\n      - uses: sast\n        with:\n          exclude: [".kiln"]\n' > "$lp/buildspec.yml"
  (cd "$lp" && "$kiln" build --in-place >/dev/null 2>&1 || true)   # warm the compile cache
  export CORPUS="$lp"
  t_kiln_large=$(timeit "$kiln" build --in-place .)
  t_bandit_large=$(timeit /tmp/peers-venv/bin/bandit -q -r tree -f json -o "$work/bandit-large.json")
  n_py=$(find "$large" -name '*.py' | wc -l); mb=$(du -sm "$large" | cut -f1)
  echo
  echo "Large tree: $large ($n_py .py files, $mb MB), median of $runs:"
  echo
  echo "| tool | wall s | vs bandit |"
  echo "|---|---:|---:|"
  echo "| kiln build with the sast step (whole process) | $t_kiln_large | $(python3 -c "print(f'{$t_bandit_large/$t_kiln_large:.1f}x faster')") |"
  echo "| bandit -r | $t_bandit_large | 1.0x |"
fi
