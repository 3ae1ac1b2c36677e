#!/usr/bin/env bash
# Test report throughput: kiln-reports reading a generated 100 MiB JUnit XML file end to end
# (parse, normalize, counts, the bounded case list; the `report` example, release build) against
# Python's own XML parser reading the same file in the same run (`xml.etree.ElementTree.iterparse`,
# counting test cases and failures and clearing each element: the cheapest streaming reader a
# Python tool would use), and `junitparser` (a JUnit library many CI tools use) when it is
# importable. Interleaved rounds; median wall time (min-max), MB/s and peak RSS from GNU time.
# Usage: bench/reports.sh [MIB] [ROUNDS]
set -euo pipefail
mib=${1:-100}
rounds=${2:-5}
root=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
cargo build --release -q -p kiln-reports --example gen_junit --example report --manifest-path "$root/Cargo.toml"
bin=$CARGO_TARGET_DIR/release/examples
python=${PYTHON:-$root/target/test-env/venv/bin/python}
[ -x "$python" ] || python=python3
[ -x /usr/bin/time ] || { echo "needs GNU time (/usr/bin/time; apt-get install time)" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/kiln-reports-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
"$bin/gen_junit" "$work/big.xml" "$mib" >&2
bytes=$(stat -c %s "$work/big.xml")

cat >"$work/etree.py" <<'EOF'
import sys, xml.etree.ElementTree as ET
cases = failures = 0
for _, el in ET.iterparse(sys.argv[1]):
    if el.tag == "testcase":
        cases += 1
        failures += any(c.tag in ("failure", "error") for c in el)
        el.clear()
print(cases, failures)
EOF
cat >"$work/read_junitparser.py" <<'EOF'
import sys
from junitparser import JUnitXml
cases = failures = 0
for suite in JUnitXml.fromfile(sys.argv[1]):
    for case in suite:
        cases += 1
        failures += any(r._tag in ("failure", "error") for r in case.result)
print(cases, failures)
EOF
tools=(kiln etree)
"$python" -c 'import junitparser' 2>/dev/null && tools+=(junitparser)

declare -A wall rss user
for r in $(seq 1 "$rounds"); do
  for t in "${tools[@]}"; do
    case $t in
      kiln) cmd=("$bin/report" JUNITXML "$work/big.xml" --summary) ;;
      etree) cmd=("$python" "$work/etree.py" "$work/big.xml") ;;
      junitparser) cmd=("$python" "$work/read_junitparser.py" "$work/big.xml") ;;
    esac
    /usr/bin/time -f '%e %M %U' -o "$work/time" "${cmd[@]}" >/dev/null
    read -r e m u <"$work/time"
    wall[$t]="${wall[$t]:-} $e"
    user[$t]="${user[$t]:-} $u"
    rss[$t]="${rss[$t]:-} $m"
  done
done

echo "JUnit XML, $((bytes / 1048576)) MiB, $rounds interleaved rounds, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| reader | wall s, median (min-max) | MB/s | CPU user s, median | peak RSS MiB (max) |"
echo "|---|---|---:|---:|---:|"
for t in "${tools[@]}"; do
  python3 - "$t" "$bytes" "${wall[$t]}" "${rss[$t]}" "${user[$t]}" <<'EOF'
import statistics, sys
t, size, w, m, u = sys.argv[1], int(sys.argv[2]), [float(x) for x in sys.argv[3].split()], [int(x) for x in sys.argv[4].split()], [float(x) for x in sys.argv[5].split()]
names = {"kiln": "kiln-reports (`report` example)", "etree": "Python xml.etree iterparse", "junitparser": "Python junitparser"}
med = statistics.median(w)
print(f"| {names[t]} | {med:.2f} ({min(w):.2f}-{max(w):.2f}) | {size / 1e6 / med:.0f} | {statistics.median(u):.2f} | {max(m) / 1024:.0f} |")
EOF
done
