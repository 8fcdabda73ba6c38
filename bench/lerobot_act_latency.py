"""LeRobot's ACT inference latency for one model config; run by bench_policy_loop.py with
a benchmark venv's Python (.venv-lerobot04 or 03), never imported by the suite.

    .venv-lerobot04/bin/python bench/lerobot_act_latency.py '{"image_height": 480, ...}'
    then on stdin: a number N per line -> times N calls, prints one JSON line; EOF ends.

Builds LeRobot's ACTPolicy with the given sizes (random weights: latency does not depend
on their values; offline, so no pretrained backbone) and temporal ensembling on (coeff
0.01, n_action_steps 1), the setting in which select_action runs the whole network on
every call, as our node runs predict_chunk on every query. Images are handed over as
LeRobot's pipeline hands them to the policy: float (1, 3, H, W) in [0, 1]; the uint8 to
float conversion is timed apart. Rounds on request let the caller interleave them with
its own measurements, so both see the same load on a shared machine. spec["precision"]
"bf16" runs select_action under torch.autocast bf16, LeRobot's own mixed precision.
"""

import contextlib
import json
import sys
import time

import numpy as np
import torch


def main() -> None:
    spec = json.loads(sys.argv[1])
    from lerobot.configs.types import FeatureType, NormalizationMode, PolicyFeature
    from lerobot.policies.act.configuration_act import ACTConfig
    from lerobot.policies.act.modeling_act import ACTPolicy

    device = torch.device(spec.get('device', 'cpu'))
    height, width, state_dim = spec['image_height'], spec['image_width'], spec['state_dim']
    cameras = [f'observation.images.{name}' for name in spec['camera_names']]
    input_features = {camera: PolicyFeature(FeatureType.VISUAL, (3, height, width)) for camera in cameras}
    input_features['observation.state'] = PolicyFeature(FeatureType.STATE, (state_dim,))
    output_features = {'action': PolicyFeature(FeatureType.ACTION, (spec['action_dim'],))}
    config = ACTConfig(
        input_features=input_features, output_features=output_features,
        chunk_size=spec['chunk_size'], n_action_steps=1, temporal_ensemble_coeff=0.01,
        dim_model=spec['dim_model'], n_heads=spec['n_heads'], dim_feedforward=spec['dim_feedforward'],
        n_encoder_layers=spec['n_encoder_layers'], n_decoder_layers=spec['n_decoder_layers'],
        latent_dim=spec['latent_dim'], use_vae=True, pretrained_backbone_weights=None,
        normalization_mapping={'VISUAL': NormalizationMode.MEAN_STD, 'STATE': NormalizationMode.MEAN_STD,
                               'ACTION': NormalizationMode.MEAN_STD},
        device=str(device))
    stats = {camera: {'mean': torch.full((3, 1, 1), 0.5), 'std': torch.full((3, 1, 1), 0.25)} for camera in cameras}
    stats['observation.state'] = {'mean': torch.zeros(state_dim), 'std': torch.ones(state_dim)}
    stats['action'] = {'mean': torch.zeros(spec['action_dim']), 'std': torch.ones(spec['action_dim'])}
    policy = ACTPolicy(config, dataset_stats=stats).to(device).eval()
    policy.reset()

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(len(cameras), height, width, 3), dtype=np.uint8)

    def observation():
        batch = {camera: torch.from_numpy(frames[i]).permute(2, 0, 1)[None].float().div(255).to(device)
                 for i, camera in enumerate(cameras)}  # (1, 3, H, W)
        batch['observation.state'] = torch.zeros(1, state_dim, device=device)
        return batch

    def synchronize():
        if device.type == 'cuda':
            torch.cuda.synchronize(device)

    def select_action(batch):
        bf16 = spec.get('precision') == 'bf16'
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext():
            return policy.select_action(batch)

    for _ in range(spec.get('warmup', 3)):
        select_action(observation())
    synchronize()
    import importlib.metadata

    print(json.dumps({'ready': True, 'lerobot_version': importlib.metadata.version('lerobot'), 'torch': torch.__version__,
                      'threads': torch.get_num_threads()}), flush=True)
    for line in sys.stdin:
        select_s, convert_s = [], []
        for _ in range(int(line)):
            started = time.perf_counter()
            batch = observation()
            synchronize()
            converted = time.perf_counter()
            select_action(batch)
            synchronize()
            done = time.perf_counter()
            convert_s.append(converted - started)
            select_s.append(done - converted)
        print(json.dumps({'select_action_s': select_s, 'uint8_to_float_s': convert_s}), flush=True)


if __name__ == '__main__':
    main()
