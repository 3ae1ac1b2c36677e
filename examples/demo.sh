#!/usr/bin/env bash
# kiln's main job on a bundled example: build kiln, make a signing key, run the node-web example's
# buildspec in the sandbox (tests, build, artifacts), sign SLSA provenance for its artifacts, and
# verify the artifacts against that provenance with the public key.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release -q -p kiln --manifest-path "$root/Cargo.toml"
kiln="${CARGO_TARGET_DIR:-$root/target}/release/kiln"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export COSIGN_PASSWORD=${COSIGN_PASSWORD:-kiln-demo-password}
(cd "$work" && "$kiln" generate-key-pair)
cp -r "$root/examples/node-web" "$work/node-web"
"$kiln" build "$work/node-web" --key "$work/cosign.key"
record=$(ls -d "$work"/node-web/.kiln/builds/*/)
echo
echo "== security reports (plugin outputs in the build record)"
find "$record/plugins" -type f \( -name '*.sarif' -o -name '*.cdx.json' \) | sort | while read -r f; do
  python3 - "$f" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
name = sys.argv[1].rsplit("/", 1)[-1]
if "runs" in d:
    results = d["runs"][0]["results"]
    print(f"{name}: SARIF {d['version']}, {len(results)} finding(s)")
    for r in results[:5]:
        loc = r["locations"][0]["physicalLocation"]
        print(f"  {loc['artifactLocation']['uri']}:{loc.get('region', {}).get('startLine', '?')} {r['ruleId']} ({r['level']})")
else:
    comps = d.get("components", [])
    print(f"{name}: CycloneDX {d['specVersion']}, {len(comps)} component(s): " + ", ".join(c.get("purl", c["name"]) for c in comps[:5]))
PY
done

echo
echo "== kiln verify"
"$kiln" verify --key "$work/cosign.pub" --provenance "$record/provenance.intoto.jsonl" "$record"artifacts/*

echo
echo "== independent check (Python cryptography: ECDSA P-256 over the DSSE PAE)"
# Python with `cryptography` from the repository's pinned, hashed requirements (made once).
python=$("$root/scripts/python-env")
"$python" - "$work/cosign.pub" "$record/provenance.intoto.jsonl" <<'PY'
import base64, json, sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
key = serialization.load_pem_public_key(open(sys.argv[1], "rb").read())
env = json.loads(open(sys.argv[2]).read().splitlines()[0])
payload = base64.b64decode(env["payload"])
pae = b"DSSEv1 %d %s %d %s" % (len(env["payloadType"]), env["payloadType"].encode(), len(payload), payload)
key.verify(base64.b64decode(env["signatures"][0]["sig"]), pae, ec.ECDSA(hashes.SHA256()))
st = json.loads(payload)
print(f"signature OK; {st['predicateType']}, {len(st['subject'])} subject(s), "
      f"{len(st['predicate']['runDetails'].get('byproducts', []))} byproduct(s)")
PY

echo
echo "== the HTML report and the web pages"
"$kiln" report "$(basename "$record")" --html --key "$work/cosign.pub" -o "$work/report.html" --dir "$work/node-web"
echo "report: $work/report.html (one file: open it in a browser, it loads nothing else)"
echo "pages:  $kiln ui --dir $work/node-web   (prints http://127.0.0.1:8765/?token=... to open)"
