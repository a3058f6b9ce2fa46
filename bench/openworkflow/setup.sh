#!/bin/sh
# Install the pinned baseline (openworkflow@0.10.1 + postgres@3.4.9) into a
# scratch folder outside the repo, using `npm ci` with an exact lockfile.
#   sh bench/openworkflow/setup.sh [SCRATCH_DIR]     (default /tmp/ow-baseline)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
exec node "$here/baseline.mjs" install --scratch "${1:-${OW_BASELINE_DIR:-/tmp/ow-baseline}}"
