#!/usr/bin/env python3
"""What bf16 inference changes in a trained policy's actions, and what it saves in time.

    . scripts/env.sh && python bench/bench_precision.py --checkpoint demo_output/<run>/run/best [--episodes 3]

Plays scripted demonstrations of the task in the MuJoCo sim (act_sim, no ROS) and, every
`--every` steps, gives the same observation (the checkpoint's cameras rendered at 480x640,
the follower state) to the checkpoint loaded twice, precision fp32 and bf16. Prints the
differences between the two chunks in robot units (arm joints in rad, grippers in the
normalized 0..1 opening), next to the spread of the training actions (their std) for
scale, and the median time per chunk of each. Needs MUJOCO_GL=egl (scripts/env.sh sets it).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

IMAGE_HEIGHT, IMAGE_WIDTH = 480, 640  # what the sim's cameras publish


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--checkpoint', required=True, help='checkpoint folder written by act train')
    parser.add_argument('--task', default='transfer_cube', choices=('transfer_cube', 'insertion'))
    parser.add_argument('--episodes', type=int, default=3)
    parser.add_argument('--every', type=int, default=20, help='control steps between two compared observations')
    parser.add_argument('--seed-start', type=int, default=100000, help='away from the training seeds')
    parser.add_argument('--device', default='cpu')
    args = parser.parse_args()

    from act_sim.ee_sim import EndEffectorSim
    from act_sim.rendering import CameraRenderer, CameraSpec
    from act_sim.scripted import generate_demo
    from act_sim.sim import AlohaSim
    from act_training.policy import ActPolicy
    from act_training.train.checkpoint import load_checkpoint

    checkpoint = load_checkpoint(args.checkpoint)
    policies = {precision: ActPolicy(checkpoint, device=args.device, precision=precision) for precision in ('fp32', 'bf16')}
    reference = policies['fp32']
    arm_columns = [i for i, name in enumerate(reference.vector_names) if 'gripper' not in name]
    gripper_columns = [i for i, name in enumerate(reference.vector_names) if 'gripper' in name]
    action_std = np.asarray(checkpoint.normalization.action.std)  # (Da,) the training actions' spread

    scene, sim = EndEffectorSim(args.task), AlohaSim(args.task)
    renderer = CameraRenderer(sim.model, [CameraSpec(name, IMAGE_HEIGHT, IMAGE_WIDTH) for name in reference.camera_names])
    differences, relative, times = [], [], {precision: [] for precision in policies}
    for seed in range(args.seed_start, args.seed_start + args.episodes):
        demo = generate_demo(args.task, seed, scene)
        sim.reset(seed)
        for step, targets in enumerate(demo.joint_targets):
            if step % args.every == 0:
                images = {name: renderer.render(sim.data, name) for name in reference.camera_names}
                qpos = sim.state_vector()
                chunks = {}
                for precision, policy in policies.items():
                    start = time.perf_counter()
                    chunks[precision] = policy.predict_chunk(images, qpos)  # (S, Da) robot units
                    times[precision].append(time.perf_counter() - start)
                difference = np.abs(chunks['bf16'] - chunks['fp32'])  # (S, Da)
                differences.append(difference)
                relative.append(difference / action_std)
            sim.step(targets)
        print(f'  seed {seed}: {len(differences)} observations compared so far', flush=True)
    renderer.close()

    stacked, scaled = np.concatenate(differences), np.concatenate(relative)  # (N * S, Da)
    print(f'\n{args.checkpoint}: {reference.model_id}, cameras {list(reference.camera_names)} at '
          f'{reference.image_size}, chunk {reference.chunk_size}; {len(differences)} observations of {args.task}')
    print(f'{"bf16 - fp32, per chunk entry":40s} {"median":>10s} {"p99":>10s} {"max":>10s}')
    for label, columns in (('arm joints (rad)', arm_columns), ('grippers (0..1 opening)', gripper_columns)):
        values = stacked[:, columns]
        print(f'{label:40s} {np.median(values):10.5f} {np.percentile(values, 99):10.5f} {values.max():10.5f}')
    print(f'{"all, in units of the action std":40s} {np.median(scaled):10.5f} {np.percentile(scaled, 99):10.5f} '
          f'{scaled.max():10.5f}')
    fp32_ms, bf16_ms = (1000 * statistics.median(times[p]) for p in ('fp32', 'bf16'))
    print(f'median time per chunk: fp32 {fp32_ms:.1f} ms, bf16 {bf16_ms:.1f} ms ({fp32_ms / bf16_ms:.2f}x)')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
