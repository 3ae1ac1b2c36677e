#!/usr/bin/env bash
# kiln's main job on a bundled example: build kiln, make a signing key, run the node-web example's
# buildspec in the sandbox (tests, build, artifacts), sign SLSA provenance for its artifacts, and
# verify the artifacts against that provenance with the public key.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release -q -p kiln --manifest-path "$root/Cargo.toml"
kiln="$root/target/release/kiln"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export COSIGN_PASSWORD=${COSIGN_PASSWORD:-kiln-demo-password}
(cd "$work" && "$kiln" generate-key-pair)
cp -r "$root/examples/node-web" "$work/node-web"
"$kiln" build "$work/node-web" --key "$work/cosign.key"
record=$(ls -d "$work"/node-web/.kiln/builds/*/)
echo
echo "== kiln verify"
"$kiln" verify --key "$work/cosign.pub" --provenance "$record/provenance.intoto.jsonl" "$record"artifacts/*
