#!/bin/sh
set -e
[ "$(sh app/greet.sh kiln)" = "hello, kiln" ]
[ "$(sh app/greet.sh)" = "hello, world" ]
echo "2 tests passed"
