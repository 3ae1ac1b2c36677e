#!/bin/sh
# Run examples/pipeline end to end in a throw-away git repository: the seed's path, Source →
# Build (tests, package, a plugin) → deploy to staging → manual approval → blue/green deploy to
# production, with real deployments of a small web service on loopback (kiln-router in front of
# sandboxed python3 processes), then the run's signed release record checked against a release
# policy. The run stops at its manual approval; this script answers it from a second process, as
# you would from another terminal (`kiln pipeline approve RUN --comment ...`) or from
# `kiln ui --allow-approvals`.
#   KILN=path/to/kiln examples/pipeline/run.sh      (default: kiln on PATH)
#   STAGING_PORT / PRODUCTION_PORT: the routers' loopback ports (default 18491 / 18492)
set -eu
KILN=${KILN:-kiln}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/kiln-pipeline-demo.XXXXXX")
tar -C "$here" --exclude=.kiln -cf - . | tar -C "$work" -xf -
cd "$work"
sed -i "s/127.0.0.1:18491/127.0.0.1:${STAGING_PORT:-18491}/" deploy/staging.yml
sed -i "s/127.0.0.1:18492/127.0.0.1:${PRODUCTION_PORT:-18492}/" deploy/production.yml
git init -q -b main
git add -A
git -c user.email=demo@example.invalid -c user.name=Demo commit -qm "pipeline demo"
# The build key: signs every build's provenance, every deployment's attestation and the run's
# release record (git ignores it; builds cannot read it).
export COSIGN_PASSWORD=${COSIGN_PASSWORD:-kiln-demo-password}
"$KILN" generate-key-pair >/dev/null
echo "== kiln pipeline run pipeline.yml --key cosign.key (in $work)"
"$KILN" pipeline run pipeline.yml --workspace kiln-workspace.yml --key cosign.key --quiet &
pid=$!
run=""
i=0
while [ $i -lt 600 ]; do
  run=$("$KILN" pipeline runs 2>/dev/null | awk '/^[0-9a-f]+-[0-9a-f]+-/ {print $1; exit}')
  if [ -n "$run" ] && "$KILN" pipeline approve "$run" --comment "ship it" 2>/dev/null; then
    break
  fi
  i=$((i + 1))
  sleep 0.5
done
status=0
wait $pid || status=$?
echo "== kiln pipeline status $run"
"$KILN" pipeline status "$run"
echo "== kiln deploy list"
"$KILN" deploy list
release=.kiln/pipelines/runs/$run/release.intoto.jsonl
echo "== kiln verify --release $release --policy release-policy.yml"
"$KILN" verify --release "$release" --key cosign.pub --records .kiln --policy release-policy.yml || status=$?
echo "(the store: $work/.kiln/pipelines; build and deployment records: $work/.kiln/builds, $work/.kiln/deployments; kiln ui --dir $work shows them)"
exit $status
