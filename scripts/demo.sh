#!/usr/bin/env bash
# The main job: set up (idempotent), then run the whole ACT pipeline on the simulated
# ALOHA: record scripted demonstrations through teleop, convert, train, evaluate.
# Extra arguments go to `act demo` (see `act demo --help`).
set -euo pipefail
# shellcheck disable=SC1091
. "$(dirname "${BASH_SOURCE[0]}")/prepare.sh"
exec act demo "$@"
