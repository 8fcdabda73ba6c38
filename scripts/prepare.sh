# Sourced by demo.sh and test.sh: set up (idempotent), enter the workspace's environment,
# and pick a private DDS domain unless one is set, so parallel runs on one machine don't
# see each other.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
# shellcheck disable=SC1091
. scripts/env.sh
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$(( (RANDOM % 100) + 100 ))}"
