#!/bin/sh
# Run examples/pipeline end to end in a throw-away git repository. The run stops at its manual
# approval; this script answers it from a second process, as you would from another terminal
# (`kiln pipeline approve RUN --comment ...`) or from `kiln ui --allow-approvals`.
#   KILN=path/to/kiln examples/pipeline/run.sh      (default: kiln on PATH)
set -eu
KILN=${KILN:-kiln}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/kiln-pipeline-demo.XXXXXX")
tar -C "$here" --exclude=.kiln -cf - . | tar -C "$work" -xf -
cd "$work"
git init -q -b main
git add -A
git -c user.email=demo@example.invalid -c user.name=Demo commit -qm "pipeline demo"
echo "== kiln pipeline run pipeline.yml (in $work)"
"$KILN" pipeline run pipeline.yml --workspace kiln-workspace.yml --quiet &
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
echo "(the store: $work/.kiln/pipelines; build records: $work/.kiln/builds; kiln ui --dir $work shows both)"
exit $status
