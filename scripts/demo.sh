#!/usr/bin/env bash
# The main job: set up (idempotent), then run the whole ACT pipeline on the simulated
# ALOHA: record scripted demonstrations through teleop, convert, train, evaluate.
# Extra arguments go to `act demo` (see `act demo --help`).
set -euo pipefail
# The demo's 30 minutes count from here, setup included (act demo --finish-within).
started_at=$(date +%s)
# shellcheck disable=SC1091
. "$(dirname "${BASH_SOURCE[0]}")/prepare.sh"
exec act demo --started-at "$started_at" "$@"
