#!/bin/sh
# TODO: greet in more languages
echo "hello, ${1:-world}"
