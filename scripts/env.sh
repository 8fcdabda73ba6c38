# Source this file to use the suite in a shell: the venv, the built workspace, `act` on PATH.
#   source scripts/env.sh
_act_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ ! -f "$_act_root/install/setup.bash" ]; then
  echo "ACT workspace not built yet: run make setup" >&2
  return 1 2>/dev/null || exit 1
fi
. "$_act_root/.venv/bin/activate"
# The ROS packages from PyPI live in the venv prefix; colcon's setup chains our install.
export AMENT_PREFIX_PATH="$VIRTUAL_ENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export CMAKE_PREFIX_PATH="$VIRTUAL_ENV${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
# colcon's setup.bash uses unset variables; keep callers that run with `set -u` working.
case $- in *u*) _act_nounset=1; set +u;; *) _act_nounset=0;; esac
. "$_act_root/install/setup.bash"
[ "$_act_nounset" = 1 ] && set -u
export PATH="$_act_root/install/act_tools/lib/act_tools:$PATH"
# Keep DDS traffic on this machine unless the user chose otherwise.
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
export MUJOCO_GL="${MUJOCO_GL:-egl}"
# Every process of the suite (sim_node, policy node, recorder, tests) exchanges full-size
# camera images: with Fast DDS's default 512 KiB shared-memory segments each 480x640 image
# goes over UDP fragments, and 30-45% of a 50 Hz stream between two processes was lost
# (gaps up to 0.9 s), none with this profile (see act_bringup/config/fastdds_large_data.xml).
export FASTDDS_DEFAULT_PROFILES_FILE="${FASTDDS_DEFAULT_PROFILES_FILE:-$_act_root/install/act_bringup/share/act_bringup/config/fastdds_large_data.xml}"
unset _act_root _act_nounset
# The package folders at the workspace root (act_common/, ...) are not importable packages;
# keep Python from putting the current directory first on sys.path, where they would
# shadow the installed ones.
export PYTHONSAFEPATH=1
