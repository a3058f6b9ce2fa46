#!/bin/sh
# Run one baseline workload against a fresh database, then drop it.
#   sh bench/openworkflow/run.sh throughput|latency [ADMIN_URL]
# ADMIN_URL (default postgresql://postgres@127.0.0.1:5432/test) is only used
# to CREATE/DROP the database owbench_ow_<workload>_<pid>. Prints one JSON line.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
workload=$1
admin=${2:-${ADMIN_URL:-postgresql://postgres@127.0.0.1:5432/test}}
db="owbench_ow_${workload}_$$"
base=${admin%/*}
scratch=${OW_BASELINE_DIR:-/tmp/ow-baseline}
[ -f "$scratch/node_modules/openworkflow/package.json" ] ||
  node "$here/baseline.mjs" install --scratch "$scratch" >/dev/null
psql -q "$admin" -c "CREATE DATABASE $db" >/dev/null
trap 'psql -q "$admin" -c "DROP DATABASE IF EXISTS $db" >/dev/null' EXIT
node "$here/baseline.mjs" "$workload" --scratch "$scratch" --database-url "$base/$db"
