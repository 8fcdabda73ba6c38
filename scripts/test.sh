#!/usr/bin/env bash
# The whole test suite: sets up (idempotent), then runs every package's tests and the
# cross-package tests in test/ with pytest. Extra arguments go to pytest
# (`make test-fast` passes -m "not slow").
set -euo pipefail
# shellcheck disable=SC1091
. "$(dirname "${BASH_SOURCE[0]}")/prepare.sh"
export PYTHONUNBUFFERED=1
# pytest.ini's testpaths name every package's test folder and test/.
exec python -P -m pytest "$@"
