#!/usr/bin/env bash
# A no-op plugin step inside a real `kiln build`, against the same build with a no-op native
# subprocess (`/bin/true`) in its place, and the build with neither. Each buildspec has N steps,
# so (build with N plugin steps - build with none) / N is the cost of one warm plugin step end to
# end inside a build (resolve, load from the in-process host, grants, run, record, log).
# Usage: bench/plugin_steps.sh [RUNS] [N]   (needs hyperfine: apt-get install hyperfine)
set -euo pipefail
runs=${1:-10}
n=${2:-50}
root=$(cd "$(dirname "$0")/.." && pwd)
command -v hyperfine >/dev/null || { echo "bench/plugin_steps.sh needs hyperfine (apt-get install hyperfine)" >&2; exit 2; }
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
cargo build --release -q -p kiln --manifest-path "$root/Cargo.toml"
kiln="$CARGO_TARGET_DIR/release/kiln"
noop=$(find "$CARGO_TARGET_DIR/release/build" -path '*wasm32-wasip2/release/noop_step.wasm' -print -quit)
[ -n "$noop" ] || { echo "noop_step.wasm not found under $CARGO_TARGET_DIR/release/build" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$noop" "$work/noop.wasm"
printf 'name = "noop-step"\nversion = "0.1.0"\nworld = "step"\n' > "$work/noop.kiln-plugin.toml"
spec() { # $1 = file, $2 = step text (empty: none)
  { printf 'version: 0.2\nphases:\n  build:\n    commands:\n      - "true"\n'
    if [ -n "$2" ]; then for _ in $(seq 1 "$n"); do printf '      - %s\n' "$2"; done; fi
  } > "$work/$1"
}
spec base.yml ""
spec plugins.yml "uses: ./noop.wasm"
spec native.yml "/bin/true"
cd "$work"
"$kiln" build . --in-place -b plugins.yml >/dev/null 2>&1   # fill the on-disk compile cache
hyperfine -N -w 2 -r "$runs" --export-json "$work/h.json" \
  -n "no steps" "$kiln build . --in-place -b base.yml" \
  -n "$n no-op plugin steps" "$kiln build . --in-place -b plugins.yml" \
  -n "$n /bin/true commands" "$kiln build . --in-place -b native.yml" >/dev/null
python3 - "$work/h.json" "$n" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
n = int(sys.argv[2])
base = r["no steps"]["median"]
print("| build | median ms | per step (minus no steps) |")
print("|---|---:|---:|")
for name, x in r.items():
    per = "" if name == "no steps" else f"{(x['median'] - base) * 1000 / n:.2f} ms"
    print(f"| {name} | {x['median'] * 1000:.1f} | {per} |")
PY
