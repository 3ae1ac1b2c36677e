#!/bin/sh
# Run the wordfreq binary given as $1 on every tests/cases/*.in and compare with the .out file.
set -eu
bin=$1
failed=0
for input in tests/cases/*.in; do
    expected=${input%.in}.out
    if "$bin" < "$input" 2>/dev/null | diff -u "$expected" - ; then
        echo "ok   $(basename "$input" .in)"
    else
        echo "FAIL $(basename "$input" .in)"
        failed=$((failed + 1))
    fi
done
[ "$failed" -eq 0 ]
