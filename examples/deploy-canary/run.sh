#!/usr/bin/env bash
# kiln deploy on a bundled example: build a small web service twice (a good release, then a bad
# one that answers 500), sign both builds' provenance, deploy the good one, then canary the bad
# one under real loopback traffic: the alarm on the canary's 5xx fires, kiln stops the
# deployment and shifts all traffic back to the good release, and both deployments end in
# signed attestations. Time is compressed (--time-scale): the good release's 5-minute canary
# lasts 3 s (1/100); the bad one's 30 s at most (1/10: a 60-second alarm period is 6 s, long
# enough for the canary's tenth of the traffic to reach the alarm's 20 errors).
#
#   examples/deploy-canary/run.sh            (builds kiln first; KILN=path/to/kiln to skip that)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
if [ -z "${KILN:-}" ]; then
  cargo build --release -q -p kiln --manifest-path "$root/Cargo.toml"
  KILN="${CARGO_TARGET_DIR:-$root/target}/release/kiln"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$here/app" "$work/app"
cd "$work"
# A port for the deployment's router (the group file says 127.0.0.1:18480; PORT= overrides).
port=${PORT:-18480}
sed -i "s/127.0.0.1:18480/127.0.0.1:$port/" app/deployment-group.yml
export COSIGN_PASSWORD=${COSIGN_PASSWORD:-kiln-demo-password}
"$KILN" generate-key-pair >/dev/null
build() {
  "$KILN" build app --key cosign.key --json "$@" 2>build.log | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])'
}
deploy() {
  "$KILN" deploy "$1" --dir app --group app/deployment-group.yml --key cosign.key --time-scale "$2"
}

echo "== build v1 (good) and deploy it"
good=$(build)
deploy "$good" 0.01

echo
echo "== build v2 (bad: answers 500) and canary it under load"
bad=$(build --env RELEASE=v2-bad)
# A bounded load generator: 4 clients for at most 60 s, counting every answer by status and body.
python3 - "$port" > load.txt <<'PY' &
import collections, http.client, os, sys, threading, time
port, counts, lock, stop = int(sys.argv[1]), collections.Counter(), threading.Lock(), time.time() + 60
def client():
    while time.time() < stop and not os.path.exists("load.stop"):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/")
            r = c.getresponse()
            key = f"{r.status} {r.read().decode().strip()}"
            c.close()
        except OSError:
            key = "no answer"
            time.sleep(0.05)
        with lock:
            counts[key] += 1
threads = [threading.Thread(target=client) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
for k, n in sorted(counts.items()): print(f"  {n:6d}  {k}")
PY
load=$!
set +e
deploy "$bad" 0.1
status=$?
set -e
echo stop > load.stop
wait "$load"
echo "answers seen by the load generator during the canary (status, release):"
cat load.txt
if [ "$status" -ne 1 ]; then
  echo "expected the canary to fail (exit 1), kiln deploy exited $status" >&2
  exit 1
fi

echo
echo "== kiln deploy list"
"$KILN" deploy list --dir app
python3 - app/.kiln/deployments <<'PY'
import glob, json, sys
for p in sorted(glob.glob(sys.argv[1] + "/d-*/deployment.json")):
    d = json.load(open(p))
    r = d["kiln"].get("rollback") or {}
    if r.get("trafficRestoredMs") is not None and d["status"] in ("Stopped", "Failed"):
        print(f"{d['deploymentId']}: traffic back on the last good revision {r['trafficRestoredMs']:.2f} ms after {r['trigger']}")
PY
echo
echo "== the signed attestations (DSSE, in-toto Statement v1, the build key)"
for d in app/.kiln/deployments/d-*/; do
  python3 - "$d/attestation.intoto.jsonl" <<'PY'
import base64, json, sys
env = json.loads(open(sys.argv[1]).readline())
st = json.loads(base64.b64decode(env["payload"]))
p = st["predicate"]
print(f'{p["deployment"]["deploymentId"]}: {st["predicateType"]}, {p["outcome"]["status"]}, '
      f'provenance sha256 {(p["provenance"] or {}).get("sha256", "none")[:16]}…, strategy {p["strategy"]["plugin"] if p["strategy"] else "none"}')
PY
done
