#!/usr/bin/env bash
# kiln's SBOM step vs cdxgen and cyclonedx-py on the lockfile corpus (issue 5), in one run.
# For each input: wall time (median of RUNS after one warm-up, whole process) of
#   * kiln native   - the engine through its example driver (release build)
#   * kiln wasm     - the sbom-cyclonedx plugin run by `kiln build` (KILN, default: this repo's target/release/kiln)
#   * cdxgen        - the PEERS.md command line, offline (FETCH_LICENSE=false, --no-install-deps)
#   * cyclonedx-py  - where it applies (requirements.txt)
# plus purl-set agreement of kiln's SBOM with each peer's (../shared/tools/sbom_compare.py).
# Usage: bench/sbom.sh [RUNS]
# Peers: npm install --prefix /tmp/sbom-peers @cyclonedx/cdxgen @cyclonedx/cyclonedx-npm
#        python3 -m venv /tmp/cdxpy && /tmp/cdxpy/bin/pip install cyclonedx-bom
set -euo pipefail
runs=${1:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
shared="$root/../shared"
corpus="$shared/corpus/lockfiles"
cdxgen=${CDXGEN:-/tmp/sbom-peers/node_modules/.bin/cdxgen}
cdxpy=${CYCLONEDX_PY:-/tmp/cdxpy/bin/cyclonedx-py}
kiln=${KILN:-${CARGO_TARGET_DIR:-$root/target}/release/kiln}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
cargo build --release -q -p kiln-sbom-engine --example sbom --manifest-path "$root/Cargo.toml"
native="$CARGO_TARGET_DIR/release/examples/sbom"
( cd "$root/plugins" && CARGO_TARGET_DIR=${WASM_TARGET_DIR:-$root/plugins/target} cargo build -q --release --target wasm32-wasip2 -p sbom-cyclonedx )
wasm="${WASM_TARGET_DIR:-$root/plugins/target}/wasm32-wasip2/release/sbom_cyclonedx.wasm"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# median wall seconds of a command (1 warm-up + RUNS)
timeit() {
  local ts=() s e
  "$@" >/dev/null 2>&1 || true
  for _ in $(seq 1 "$runs"); do
    s=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s.%N)
    ts+=("$(echo "$e - $s" | bc -l)")
  done
  printf '%s\n' "${ts[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.3f", a[int((NR+1)/2)]}'
}
agree() { # ours peer -> "both/ours/peer"
  python3 "$shared/tools/sbom_compare.py" "$1" "$2" --list 0 | tail -1 | awk '{print $4" onlyKiln="substr($5,7)" onlyPeer="substr($6,7)}'
}

# project  cdxgen-type  cyclonedx-py-subcommand (or -)
inputs=(
  "npm/open-telemetry__opentelemetry-demo__react-native-app js -"
  "cargo/tauri-apps__tauri rust -"
  "yarn/jupyterlab__jupyterlab__staging js -"
  "pnpm/tauri-apps__tauri js -"
  "python/open-telemetry__opentelemetry-demo__agent python requirements"
)
echo "| input | components | kiln native | kiln wasm (kiln build) | cdxgen | speed-up vs cdxgen (native / wasm) | cyclonedx-py | purls vs cdxgen | purls vs cyclonedx-py |"
echo "|---|---|---|---|---|---|---|---|---|"
for line in "${inputs[@]}"; do
  read -r proj ctype pysub <<<"$line"
  src="$work/src-${proj//\//__}"; cp -r "$corpus/$proj" "$src"; rm -rf "$src/expected"
  ours="$work/${proj//\//__}.cdx.json"
  comps=$("$native" "$src" "$ours" 2>/dev/null | sed -E 's/.*components=([0-9]+).*/\1/')
  t_native=$(timeit "$native" "$src" "$work/n.json")
  mkdir -p "$src/.plugin"; cp "$wasm" "$src/.plugin/sbom.wasm"
  printf 'version: 0.2\nphases:\n  build:\n    commands:\n      - uses: ./.plugin/sbom.wasm\n' > "$src/buildspec.yml"
  t_wasm=$(timeit "$kiln" build "$src" --in-place)
  t_cdx=$(timeit env FETCH_LICENSE=false "$cdxgen" -t "$ctype" --spec-version 1.6 --no-install-deps --no-babel -o "$work/cdxgen.json" "$src")
  a_cdx=$(agree "$ours" "$work/cdxgen.json")
  if [ "$pysub" != "-" ]; then
    t_py=$(timeit "$cdxpy" "$pysub" "$src/requirements.txt" --sv 1.6 --of JSON -o "$work/py.json")
    a_py=$(agree "$ours" "$work/py.json")
  else t_py="n/a"; a_py="n/a"; fi
  sp=$(echo "scale=0; $t_cdx / $t_native" | bc -l)x/$(echo "scale=1; $t_cdx / $t_wasm" | bc -l)x
  echo "| $proj | $comps | ${t_native}s | ${t_wasm}s | ${t_cdx}s | $sp | ${t_py}$( [ "$t_py" != n/a ] && echo s) | $a_cdx | $a_py |"
done
