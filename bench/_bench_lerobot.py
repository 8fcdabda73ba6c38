"""Benchmark worker for LeRobot's ACT (runs in a .venv-lerobot* venv, see setup_lerobot_venv.sh).
Same config and inputs as _bench_ours.py; prints RESULT lines."""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_inputs import CHUNK_SIZE, HEIGHT, STATE_DIM, WIDTH, load, median_training_step_s, report, run_side, timed  # noqa: E402


def build_policy(n_cameras: int, device: str):
    from lerobot.configs.types import FeatureType, PolicyFeature
    from lerobot.policies.act.configuration_act import ACTConfig
    from lerobot.policies.act.modeling_act import ACTPolicy

    cameras = [f'observation.images.cam{i}' for i in range(n_cameras)]
    inputs = {'observation.state': PolicyFeature(type=FeatureType.STATE, shape=(STATE_DIM,))}
    inputs.update({name: PolicyFeature(type=FeatureType.VISUAL, shape=(3, HEIGHT, WIDTH)) for name in cameras})
    # LeRobot's defaults are the paper's config (chunk 100, dim 512, ...); offline: no
    # pretrained backbone download (ours uses random init too).
    config = ACTConfig(input_features=inputs, output_features={'action': PolicyFeature(type=FeatureType.ACTION, shape=(STATE_DIM,))},
                       pretrained_backbone_weights=None, device=device, chunk_size=CHUNK_SIZE, n_action_steps=CHUNK_SIZE)
    identity = {'mean': torch.zeros(STATE_DIM), 'std': torch.ones(STATE_DIM)}
    stats = {'observation.state': identity, 'action': identity}
    imagenet = {'mean': torch.tensor([0.485, 0.456, 0.406])[:, None, None], 'std': torch.tensor([0.229, 0.224, 0.225])[:, None, None]}
    stats.update({name: imagenet for name in cameras})
    torch.manual_seed(0)
    return ACTPolicy(config, dataset_stats=stats).to(device), cameras


def bench_inference(inputs: Path, n_cameras: int, device: str, precision: str, warmup: int, iterations: int) -> None:
    """precision bf16: LeRobot's own mixed precision (`policy.use_amp`), torch.autocast
    around the call, as its eval script does."""
    import contextlib

    policy, cameras = build_policy(n_cameras, device)
    policy.eval()
    frames = load(inputs, 'frames')
    batch = {'observation.state': torch.from_numpy(load(inputs, 'qpos')).float()[None].to(device)}
    for i, name in enumerate(cameras):
        batch[name] = (torch.from_numpy(frames[i]).permute(2, 0, 1).float() / 255.0)[None].to(device)
    def predict():
        amp = torch.autocast(device_type=device, dtype=torch.bfloat16) if precision == 'bf16' else contextlib.nullcontext()
        with torch.inference_mode(), amp:
            return policy.predict_action_chunk(batch)

    chunk = predict()
    assert chunk.shape == (1, CHUNK_SIZE, STATE_DIM)
    sync = torch.cuda.synchronize if device == 'cuda' else (lambda: None)
    times = timed(predict, warmup, iterations, sync)
    report({'impl': 'lerobot', 'what': f'infer_{n_cameras}cam', 'device': device, 'precision': precision,
            'median_ms': 1000 * statistics.median(times), 'min_ms': 1000 * min(times), 'threads': torch.get_num_threads()})


def bench_training(inputs: Path, device: str, warmup: int, iterations: int) -> None:
    policy, cameras = build_policy(1, device)
    policy.train()
    optimizer = torch.optim.AdamW(policy.get_optim_params(), lr=1e-5, weight_decay=1e-4)
    frames = torch.from_numpy(load(inputs, 'train_frames'))  # (B, 1, H, W, 3) uint8
    batch = {'observation.state': torch.from_numpy(load(inputs, 'train_qpos')),
             cameras[0]: frames[:, 0].permute(0, 3, 1, 2).float() / 255.0,
             'action': torch.from_numpy(load(inputs, 'train_actions')),
             'action_is_pad': torch.from_numpy(load(inputs, 'train_is_pad'))}
    batch = {key: value.to(device) for key, value in batch.items()}

    sync = torch.cuda.synchronize if device == 'cuda' else (lambda: None)
    median = median_training_step_s(lambda: policy.forward(batch)[0], optimizer, warmup, iterations, sync)
    report({'impl': 'lerobot', 'what': 'train_b8', 'device': device, 'median_ms': 1000 * median,
            'samples_per_s': len(frames) / median, 'threads': torch.get_num_threads()})


if __name__ == '__main__':
    run_side(bench_inference, bench_training)
