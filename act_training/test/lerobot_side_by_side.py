"""Run with a Python that has lerobot 0.4.x (not this suite's venv): opens our export
with LeRobot's own LeRobotDataset and compares it with the source episodes.

    python lerobot_side_by_side.py DATASET_DIR REFERENCE.npz CAMERA

REFERENCE.npz (written by test_conversion_lerobot_side_by_side.py from the HDF5 files):
qpos, action (N, D) and images (N, H, W, 3) uint8 of every frame in dataset order, and
lengths (E,). Prints one JSON object of measured differences; the test judges them.
"""

import json
import sys

import numpy as np
import torch
from lerobot.datasets.lerobot_dataset import LeRobotDataset

root, reference, camera = sys.argv[1], sys.argv[2], sys.argv[3]
ref = np.load(reference)
key = f'observation.images.{camera}'
out = {}
dataset = LeRobotDataset('local/act_export', root=root, video_backend='pyav')
out['num_episodes'], out['num_frames'], out['fps'] = dataset.num_episodes, dataset.num_frames, dataset.fps
out['features'] = sorted(dataset.features)
episodes = dataset.meta.episodes
out['boundaries'] = [[int(episodes[e]['dataset_from_index']), int(episodes[e]['dataset_to_index'])]
                     for e in range(dataset.num_episodes)]
state_err = action_err = image_err = 0.0
episode_ok = True
starts = np.concatenate(([0], np.cumsum(ref['lengths'])[:-1]))
for index in range(dataset.num_frames):
    item = dataset[index]
    state_err = max(state_err, float(np.abs(item['observation.state'].numpy() - ref['qpos'][index]).max()))
    action_err = max(action_err, float(np.abs(item['action'].numpy() - ref['action'][index]).max()))
    frame = item[key].permute(1, 2, 0).numpy() * 255.0  # (H, W, 3) in 0..255
    image_err = max(image_err, float(np.abs(frame - ref['images'][index]).mean()))
    episode = int(item['episode_index'])
    episode_ok &= bool(starts[episode] <= index < starts[episode] + ref['lengths'][episode])
    episode_ok &= int(item['frame_index']) == index - starts[episode]
out.update(state_err=state_err, action_err=action_err, image_mean_abs_err=image_err, episode_ok=bool(episode_ok),
           task=dataset[0]['task'])

# delta_timestamps: 10 future actions and the previous frame, near an episode's start and end.
fps = dataset.fps
deltas = {'action': [k / fps for k in range(10)], key: [-1 / fps, 0.0], 'observation.state': [-1 / fps, 0.0]}
queried = LeRobotDataset('local/act_export', root=root, video_backend='pyav', delta_timestamps=deltas)
checks = []
for episode in range(len(ref['lengths'])):
    start, length = int(starts[episode]), int(ref['lengths'][episode])
    for index in (start, start + length - 3):
        item = queried[index]
        steps = np.arange(10) + index
        pad = steps >= start + length
        expected_action = ref['action'][np.minimum(steps, start + length - 1)]
        previous = max(index - 1, start)
        checks.append({
            'index': index,
            'action_err': float(np.abs(item['action'].numpy() - expected_action).max()),
            'action_pad_ok': bool(np.array_equal(item['action_is_pad'].numpy(), pad)),
            'state_prev_err': float(np.abs(item['observation.state'][0].numpy() - ref['qpos'][previous]).max()),
            'state_pad_ok': bool(item['observation.state_is_pad'].tolist() == [index == start, False]),
            'image_prev_err': float(np.abs(item[key][0].permute(1, 2, 0).numpy() * 255.0 - ref['images'][previous]).mean()),
        })
out['delta_checks'] = checks
print('RESULT ' + json.dumps(out))
