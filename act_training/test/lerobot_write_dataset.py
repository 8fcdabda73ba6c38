"""Run with a Python that has lerobot 0.4.x: writes a small LeRobotDataset v3.0 with
LeRobot's own writer (LeRobotDataset.create / add_frame / save_episode / finalize).

    python lerobot_write_dataset.py ROOT EPISODES LENGTH

State and action: 4 entries, state_t = sin(0.25 t k + e), action_t = state_{t+1}; one
32x32 camera `top` whose white square moves with t. Prints RESULT {"frames": N}.
"""

import json
import sys

import numpy as np
from lerobot.datasets.lerobot_dataset import LeRobotDataset

root, episodes, length = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
names = [f'joint_{i}' for i in range(4)]
features = {
    'observation.state': {'dtype': 'float32', 'shape': (4,), 'names': names},
    'action': {'dtype': 'float32', 'shape': (4,), 'names': names},
    'observation.images.top': {'dtype': 'video', 'shape': (32, 32, 3), 'names': ['height', 'width', 'channels']},
}
dataset = LeRobotDataset.create('local/written_by_lerobot', fps=50, features=features, root=root, use_videos=True)
for episode in range(episodes):
    steps = np.arange(length + 1)[:, None]
    trajectory = np.sin(0.25 * steps * np.arange(1, 5) + 0.7 * episode).astype(np.float32)
    for t in range(length):
        frame = np.zeros((32, 32, 3), dtype=np.uint8)
        x = int(t / max(1, length - 1) * 20)
        frame[10:22, x:x + 12] = 255
        dataset.add_frame({'observation.state': trajectory[t], 'action': trajectory[t + 1],
                           'observation.images.top': frame, 'task': 'move the square'})
    dataset.save_episode()
dataset.finalize()
print('RESULT ' + json.dumps({'frames': episodes * length}))
