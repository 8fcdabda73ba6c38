#!/usr/bin/env bash
# The whole test suite: sets up (idempotent), then runs every package's tests and the
# cross-package tests in test/ with pytest. Extra arguments go to pytest
# (`make test-fast` passes -m "not slow").
set -euo pipefail
# shellcheck disable=SC1091
. "$(dirname "${BASH_SOURCE[0]}")/prepare.sh"
export PYTHONUNBUFFERED=1
# pytest.ini's testpaths name every package's test folder and test/.
# The tests' temporary folders go under build/ in this checkout, not /tmp: /tmp may be a small
# tmpfs, or shared with other runs whose pytest prunes its numbered folders (a CI run failed
# with every tmp_path test erroring from 35 % on). pytest clears the folder at start; a
# --basetemp among "$@" comes later and wins.
exec python -P -m pytest --basetemp "$ROOT/build/test-tmp" "$@"
