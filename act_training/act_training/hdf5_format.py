"""The training episode file: the original ACT HDF5 layout, plus attributes that say what
the numbers are. This module is the one definition of that layout, the contract between
the writers (conversion.hdf5_writer, used by the converter and the LeRobot import) and the
readers (data.episodes, conversion.lerobot_export).

One file per episode, `episode_<index>.hdf5` (act_common.episode_format.episode_file_name):

    /observations/qpos            (T, D) float64  follower state on the control grid
    /observations/qvel            (T, D) float64  its velocity (rad/s; gripper: opening/s);
                                                  not used by ACT, optional for readers
    /observations/images/<camera> (T, H, W, 3) uint8 RGB; any HDF5 filter (gzip, lzf):
                                  readers see the same array; or the ALOHA 2 layout:
                                  (T, L) uint8 JPEG rows (data.jpeg_rows) with
    /compress_len                 (N_cam, T) float32 byte length of each frame, and the
                                  root attribute `compress` = True
    /action                       (T, Da) float64 commanded targets at each tick

Root attributes our converter writes: sim (bool), task, robot, vector_names (JSON list,
names of qpos/qvel), action_names (JSON list, names of action), camera_names (JSON list),
control_rate_hz, success, seed, source (the bag path), episode_index, action_source,
time_source, start_time_ns, truncated, recovery, and for simulated episodes
render_settings (JSON object, act_sim.rendering.RenderSettings; the camera sizes are the
image datasets' H, W, or the decoded JPEG rows' size). Readers treat every attribute but
`sim` as optional: existing ALOHA datasets lack them.

D = len(vector_names): per arm 6 joints (rad) then the gripper opening normalized
0 = closed .. 1 = open (qpos: the follower fingers; action: the leader gripper).
"""

from __future__ import annotations

OBSERVATIONS = '/observations'
QPOS = OBSERVATIONS + '/qpos'
QVEL = OBSERVATIONS + '/qvel'
IMAGES = OBSERVATIONS + '/images'
ACTION = '/action'
# The ALOHA 2 JPEG-row variant: per-frame byte lengths and the root attribute that marks it.
COMPRESS_LEN = '/compress_len'
COMPRESS_ATTRIBUTE = 'compress'

# How camera frames are stored (conversion.hdf5_writer): raw pixels, pixels through a
# lossless HDF5 filter, or ALOHA 2 JPEG rows.
IMAGE_STORAGE = ('raw', 'gzip', 'lzf', 'jpeg')
# Values of the action_source attribute: the commanded targets, or the leader joint states
# mapped as teleop maps them; of time_source: header stamps or the bag's reception times.
ACTION_SOURCES = ('commanded', 'leader')
TIME_SOURCES = ('header', 'receive')

# Root attributes stored as JSON text (lists of names, and the render settings object).
JSON_LIST_ATTRIBUTES = ('vector_names', 'action_names', 'camera_names')
JSON_ATTRIBUTES = JSON_LIST_ATTRIBUTES + ('render_settings',)


def image_path(camera: str) -> str:
    """The dataset of one camera: /observations/images/<camera>."""
    return f'{IMAGES}/{camera}'
