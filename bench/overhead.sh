#!/usr/bin/env bash
# kiln's overhead over plain bash: a five-command buildspec run by `kiln build` (sandboxed and not)
# against the same five commands in one bash process, in the same run. Prints a markdown table.
# Usage: bench/overhead.sh [RUNS]   (needs hyperfine: apt-get install hyperfine)
set -euo pipefail
runs=${1:-30}
root=$(cd "$(dirname "$0")/.." && pwd)
command -v hyperfine >/dev/null || { echo "bench/overhead.sh needs hyperfine (apt-get install hyperfine)" >&2; exit 2; }
cargo build --release -q -p kiln --manifest-path "$root/Cargo.toml"
kiln="$root/target/release/kiln"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Five commands that do a little real work each (about 10 ms in bash), as a build's commands do.
cmds=(
  'for i in $(seq 1 2000); do echo "line $i"; done > lines.txt'
  'COUNT=$(wc -l < lines.txt)'
  'sort -r lines.txt | head -n 3'
  'cd . && sha256sum lines.txt > sums.txt'
  'echo "count=$COUNT"'
)
{
  printf 'version: 0.2\nenv:\n  shell: bash\nphases:\n  build:\n    commands:\n'
  for c in "${cmds[@]}"; do printf "      - '%s'\n" "${c//\'/\'\'}"; done
} > "$work/buildspec.yml"
printf '%s\n' "${cmds[@]}" > "$work/plain.sh"
cd "$work"
hyperfine -N -w 3 -r "$runs" --export-json "$work/h.json" \
  -n bash "bash --noprofile --norc plain.sh" \
  -n "kiln build" "$kiln build . --in-place" \
  -n "kiln build (copy source)" "$kiln build ." \
  -n "kiln build --no-sandbox" "$kiln build . --in-place --no-sandbox" >/dev/null
python3 - "$work/h.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
base = r["bash"]["median"]
print("| command | median ms | mean ± sd ms | overhead vs bash |")
print("|---|---:|---:|---:|")
for name, x in r.items():
    over = "" if name == "bash" else f"+{(x['median']-base)*1000:.1f} ms ({x['median']/base:.1f}x)"
    print(f"| {name} | {x['median']*1000:.1f} | {x['mean']*1000:.1f} ± {x['stddev']*1000:.1f} | {over} |")
PY
