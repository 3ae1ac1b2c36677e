#!/usr/bin/env bash
# The pipeline engine's overhead per Deploy action: `kiln pipeline run --key` of Source → one
# CodeBuild build (a python3 web service's revision) → N CodeDeploy deployments in sequence (N
# groups, ECS all-at-once, one task each, routers on free loopback ports), against the same
# build and N `kiln deploy ZIP --provenance P --key K` run by hand on the build's zip artifact.
# Both sides start the services, check their health, shift traffic, sign attestations; the
# pipeline also finds each artifact's provenance in its store, copies the artifact out of it,
# and signs the run's release record at the end (once per run). Rounds are interleaved; the
# table shows min and median over RUNS rounds and the difference per Deploy action.
# Usage: bench/pipeline_deploy.sh [RUNS] [N]   (needs python3 and git)
#   KILN=/path/to/kiln bench/pipeline_deploy.sh   uses that binary instead of building one.
set -euo pipefail
runs=${1:-5}
n=${2:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${KILN:-}" ]; then
  cargo build --release -q -p kiln --manifest-path "$root/Cargo.toml"
fi
kiln=${KILN:-${CARGO_TARGET_DIR:-$root/target}/release/kiln}
echo "kiln pipeline deploy benchmark as $(id -un), $runs rounds, $n deployments, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
repo="$work/repo"
mkdir -p "$repo/ci" "$repo/web" "$repo/deploy"
printf 'version: 0.2\nphases:\n  build:\n    commands:\n      - mkdir -p dist && cp web/* dist/\nartifacts:\n  base-directory: dist\n  files: ["**/*"]\n' > "$repo/ci/buildspec.yml"
cat > "$repo/web/server.py" <<'PY'
import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "3"); self.end_headers(); self.wfile.write(b"ok\n")
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
PY
printf 'version: 0.0\nResources:\n  - TargetService:\n      Type: AWS::ECS::Service\n      Properties:\n        TaskDefinition: web\n        LoadBalancerInfo: {ContainerName: web, ContainerPort: 8080}\n' > "$repo/web/appspec.yml"
ws='version: 1\nsources:\n  bench: {repository: .}\ncodebuild:\n  bench: {path: ci}\ncodedeploy:\n  web:\n'
for i in $(seq 1 "$n"); do
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  printf 'applicationName: web\ndeploymentGroupName: g%s\ncomputePlatform: ECS\ndeploymentConfigName: CodeDeployDefault.ECSAllAtOnce\ntargets:\n  driver: local\n  settings:\n    service: {command: [python3, server.py], health-path: /health, start-timeout: 20}\n    router: {listen: "127.0.0.1:%s", drain-timeout: 1}\n  instances: [task-1]\n' "$i" "$port" > "$repo/deploy/g$i.yml"
  ws="$ws    g$i: deploy/g$i.yml\n"
done
printf "$ws" > "$repo/kiln-workspace.yml"
{
  printf 'pipeline:\n  name: bench\n  roleArn: arn:aws:iam::123456789012:role/b\n  artifactStore: {type: S3, location: b}\n  stages:\n'
  printf '    - name: Source\n      actions:\n        - name: Checkout\n          actionTypeId: {category: Source, owner: AWS, provider: CodeCommit, version: "1"}\n          configuration: {RepositoryName: bench, BranchName: main}\n          outputArtifacts: [{name: Src}]\n'
  printf '    - name: Build\n      actions:\n        - name: Package\n          actionTypeId: {category: Build, owner: AWS, provider: CodeBuild, version: "1"}\n          configuration: {ProjectName: bench}\n          inputArtifacts: [{name: Src}]\n          outputArtifacts: [{name: Web}]\n'
  printf '    - name: Deploy\n      actions:\n'
  for i in $(seq 1 "$n"); do
    printf '        - name: D%s\n          actionTypeId: {category: Deploy, owner: AWS, provider: CodeDeploy, version: "1"}\n          runOrder: %s\n          configuration: {ApplicationName: web, DeploymentGroupName: g%s}\n          inputArtifacts: [{name: Web}]\n' "$i" "$i" "$i"
  done
} > "$repo/pipeline.yml"
printf '.kiln/\ncosign.*\n' > "$repo/.gitignore"
(cd "$repo" && git init -q -b main && git add -A && git -c user.email=b@example.invalid -c user.name=B commit -qm bench)
mkdir -p "$work/export/bench"
git -C "$repo" archive HEAD | tar -x -C "$work/export/bench"
cd "$repo"
export COSIGN_PASSWORD=bench-password
"$kiln" generate-key-pair >/dev/null
python3 - "$runs" "$n" "$kiln" "$work/export/bench" <<'PY'
import json, os, statistics, subprocess, sys, time
runs, n, kiln, export = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
key = os.path.abspath("cosign.key")
def by_hand():
    done = subprocess.run([kiln, "build", export, "-b", export + "/ci/buildspec.yml", "--zip", "--json", "--key", key], capture_output=True)
    if done.returncode != 0:
        sys.exit("kiln build failed: " + done.stderr.decode()[-2000:])
    record = json.loads(done.stdout)
    zip_path, rec = record["artifacts"]["location"], record["kiln"]["recordDir"]
    for i in range(1, n + 1):
        d = subprocess.run([kiln, "deploy", zip_path, "--dir", ".", "--group", f"deploy/g{i}.yml", "--provenance", rec + "/provenance.intoto.jsonl", "--key", key, "--json"], capture_output=True)
        if d.returncode != 0:
            sys.exit("kiln deploy failed: " + d.stderr.decode()[-2000:])
def pipeline():
    done = subprocess.run([kiln, "pipeline", "run", "pipeline.yml", "-q", "--key", key], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if done.returncode != 0:
        sys.exit("kiln pipeline run failed: " + done.stderr.decode()[-2000:])
hand, pipe = [], []
pipeline(); by_hand()  # warm the plugin compile cache and the page cache
for _ in range(runs):
    for f, out in ((by_hand, hand), (pipeline, pipe)):
        t = time.perf_counter(); f(); out.append(time.perf_counter() - t)
ms = lambda xs: (min(xs) * 1e3, statistics.median(xs) * 1e3)
(hmin, hmed), (pmin, pmed) = ms(hand), ms(pipe)
print()
print(f"| what | min (ms) | median (ms) |")
print(f"|---|---:|---:|")
print(f"| kiln build + {n} x kiln deploy by hand | {hmin:.0f} | {hmed:.0f} |")
print(f"| kiln pipeline run --key (Source + build + {n} deploys + release record) | {pmin:.0f} | {pmed:.0f} |")
print(f"| overhead per action ({n + 2} actions) | {(pmin - hmin) / (n + 2):.1f} | {(pmed - hmed) / (n + 2):.1f} |")
PY
