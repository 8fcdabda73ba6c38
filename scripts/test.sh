#!/usr/bin/env bash
# The whole test suite: sets up (idempotent), then runs every package's tests and the
# cross-package tests in test/ with pytest. Extra arguments go to pytest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
# shellcheck disable=SC1091
. scripts/env.sh
# A private DDS domain per run, so parallel runs on one machine don't see each other.
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$(( (RANDOM % 100) + 100 ))}"
export PYTHONUNBUFFERED=1
# pytest.ini's testpaths name every package's test folder and test/.
exec python -P -m pytest "$@"
