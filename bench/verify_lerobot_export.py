"""Loads an exported LeRobot dataset with the lerobot package (run it with the LeRobot venv).

    python -c "import h5py, numpy as np; f = h5py.File('EP.hdf5'); np.savez('ref.npz', \
        q=f['observations/qpos'][10], a=f['action'][10], img=f['observations/images/top'][10])"
    /work/main/.venv-lerobot04/bin/python bench/verify_lerobot_export.py DATASET_DIR ref.npz

Prints the dataset's features and the differences between step 10 as LeRobot returns it
and the same step of the ACT HDF5 episode it was exported from (the .npz). The export is
LeRobotDataset v3.0: it needs lerobot 0.4.x (python3.11 -m venv /work/main/.venv-lerobot04 &&
.../pip install 'lerobot==0.4.*'). Videos are decoded with PyAV here; LeRobot's default
torchcodec needs the system FFmpeg libraries. act_training/test/test_conversion_lerobot_side_by_side.py
checks every frame and delta_timestamps queries the same way.
"""
import sys, numpy as np
from lerobot.datasets.lerobot_dataset import LeRobotDataset
root, h5 = sys.argv[1], sys.argv[2]
ds = LeRobotDataset('local/act_export', root=root, video_backend='pyav')
print('episodes', ds.num_episodes, 'frames', ds.num_frames, 'fps', ds.fps, 'features', sorted(ds.features))
item = ds[10]
print({k: (tuple(v.shape), str(v.dtype)) for k, v in item.items() if hasattr(v, 'shape')}, item['task'])
ref = np.load(h5)
q, a, img = ref['q'], ref['a'], ref['img']
print('state err', float(np.abs(item['observation.state'].numpy() - q).max()), 'action err', float(np.abs(item['action'].numpy() - a).max()))
frame = (item['observation.images.top'].permute(1, 2, 0).numpy() * 255)
print('image mean abs err (0-255)', float(np.abs(frame - img).mean()))
print('stats keys', sorted(ds.meta.stats)[:4])
