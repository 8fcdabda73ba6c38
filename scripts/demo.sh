#!/usr/bin/env bash
# The main job: set up (idempotent), then run the whole ACT pipeline on the simulated
# ALOHA: record scripted demonstrations through teleop, convert, train, evaluate.
# Extra arguments go to `act demo` (see `act demo --help`).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
# shellcheck disable=SC1091
. scripts/env.sh
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$(( (RANDOM % 100) + 100 ))}"
exec act demo "$@"
