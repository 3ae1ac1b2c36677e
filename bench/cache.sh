#!/usr/bin/env bash
# Build cache throughput: kiln-cache save (cold store, then warm: same files under a new key,
# every blob already stored) and restore into an empty tree, against GNU tar creating and
# extracting an uncompressed archive of the same paths, in the same run. Two workloads: a
# node_modules-like tree (FILES small files) and COUNT large files of MIB MiB. Rounds are
# interleaved; the table gives the median time (min-max) with MB/s and files/s from the median.
# Everything runs from the page cache (no cache dropping: other work shares the machine);
# kiln hashes every byte with sha256 on save and again on restore, tar does not.
# Usage: bench/cache.sh [FILES] [COUNT] [MIB] [ROUNDS]
set -euo pipefail
files=${1:-30000}
count=${2:-4}
mib=${3:-256}
rounds=${4:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
cargo build --release -q -p kiln-cache --example cache_bench --manifest-path "$root/Cargo.toml"
bin=$CARGO_TARGET_DIR/release/examples/cache_bench
work=$(mktemp -d "${TMPDIR:-/tmp}/kiln-cache-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

"$bin" gen-small "$work/small" "$files"
"$bin" gen-large "$work/large" "$count" "$mib"

now() { date +%s%N; }
declare -A times
record() { times[$1]="${times[$1]:-} $2"; }

for r in $(seq 1 "$rounds"); do
  for w in small large; do
    case $w in small) dir=node_modules ;; large) dir=big ;; esac
    src=$work/$w
    store=$work/store-$w-$r
    t0=$(now); out=$("$bin" save "$store" "$src" "k$r" "$dir/**/*"); t1=$(now)
    record "$w kiln save (cold store)" $((t1 - t0))
    read -r nfiles nbytes <<<"$out"
    echo "$nfiles $nbytes" > "$work/$w.size"
    t0=$(now); "$bin" save "$store" "$src" "k$r-warm" "$dir/**/*" >/dev/null; t1=$(now)
    record "$w kiln save (warm: blobs stored)" $((t1 - t0))
    dest=$work/dest-$w-$r; mkdir -p "$dest"
    t0=$(now); "$bin" restore "$store" "$dest" "k$r" "$dir/**/*" >/dev/null; t1=$(now)
    record "$w kiln restore" $((t1 - t0))
    diff -rq "$src/$dir" "$dest/$dir" >/dev/null   # the restore is exact (outside the timing)
    t0=$(now); tar -cf "$work/$w-$r.tar" -C "$src" "$dir"; t1=$(now)
    record "$w tar -cf" $((t1 - t0))
    tdest=$work/tdest-$w-$r; mkdir -p "$tdest"
    t0=$(now); tar -xf "$work/$w-$r.tar" -C "$tdest"; t1=$(now)
    record "$w tar -xf" $((t1 - t0))
    rm -rf "$store" "$dest" "$tdest" "$work/$w-$r.tar"
  done
done

echo "| workload | operation | files | MB | median s (min-max) | MB/s | files/s |"
echo "|---|---|---:|---:|---|---:|---:|"
for w in small large; do
  read -r nfiles nbytes < "$work/$w.size"
  for op in "kiln save (cold store)" "kiln save (warm: blobs stored)" "kiln restore" "tar -cf" "tar -xf"; do
    key="$w $op"
    # shellcheck disable=SC2086
    sorted=$(printf '%s\n' ${times[$key]} | sort -n)
    med=$(echo "$sorted" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    min=$(echo "$sorted" | head -1); max=$(echo "$sorted" | tail -1)
    label=$([ "$w" = small ] && echo "node_modules-like" || echo "${count} x ${mib} MiB")
    awk -v l="$label" -v op="$op" -v f="$nfiles" -v b="$nbytes" -v med="$med" -v min="$min" -v max="$max" 'BEGIN {
      s = med / 1e9; printf "| %s | %s | %d | %.1f | %.3f (%.3f-%.3f) | %.0f | %.0f |\n", l, op, f, b / 1e6, s, min / 1e9, max / 1e9, b / 1e6 / s, f / s }'
  done
done
