"""ACT on sim transfer-cube on a GPU machine, end to end, without ROS: the paper's setting.

    python bench/gpu_pipeline.py --output runs/gpu --episodes 50 --eval-episodes 50

Why a separate script: the GPU machines this project can borrow run Python 3.12 with no
ROS 2 (rclpy and our colcon-built act_msgs cannot be installed there), so `act demo --gpu`
cannot run on them. This script runs the same pieces of the suite, in-process:

1. scripted demonstrations (act_sim.scripted.generate_demo), replayed in the joint-space
   scene (act_sim.sim.AlohaSim) while rendering the `top` camera at 480x640, written as
   training episodes in the layout `act convert` writes (act_training.hdf5_format);
   seeds 0 .. episodes-1, only successful replays kept;
2. training with act_training.train (config from --config, default the paper's);
3. closed-loop evaluation on seeds from 100000 on (never used for data): every control
   tick the policy predicts a chunk from the current frame and joint state (zero latency,
   as the paper's sim evaluation), the chunks covering the tick are temporally ensembled
   with act_policy_node.temporal_ensembler (oldest first, m = 0.01), and the sim steps.
   A success is the scene's maximum reward reached at some step (act_sim.tasks
   TaskSpec.success), reported with its 95 % Wilson interval (act_common.success_rate).

What it does not exercise: DDS, the policy node's threads and timing, the recorder and the
converter's resampling. `act demo` and `act eval` cover those on a CPU.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

import numpy as np

from act_common.success_rate import SuccessRate

TASK = 'transfer_cube'
CAMERA = 'top'
EVAL_SEED_START = 100_000


def _render_settings():
    from act_sim.rendering import RenderSettings

    return RenderSettings()


def generate_episode(args: tuple[int, str, int, int]) -> dict:
    """One scripted episode rendered and written; runs in a worker process."""
    seed, out_dir, height, width = args
    from act_sim.rendering import CameraRenderer, CameraSpec
    from act_sim.scripted import generate_demo
    from act_sim.sim import AlohaSim
    from act_common.episode_format import episode_file_name
    from act_training.conversion.hdf5_writer import EpisodeFileWriter

    demo = generate_demo(TASK, seed)
    if not demo.usable:
        return {'seed': seed, 'kept': False, 'reason': 'end-effector run not usable'}
    sim = AlohaSim(TASK)
    renderer = CameraRenderer(sim.model, [CameraSpec(CAMERA, height, width)], _render_settings())
    sim.reset(seed)
    steps = demo.episode_length
    writer = EpisodeFileWriter(Path(out_dir) / episode_file_name(seed), steps, 14)
    try:
        frames = writer.camera(CAMERA, height, width)
        qpos = np.empty((steps, 14))
        rewards = np.empty(steps)
        for step, row in enumerate(demo.joint_targets):
            qpos[step] = sim.state_vector()
            frames[step] = renderer.render(sim.data, CAMERA)
            rewards[step] = sim.step(row)
        writer.qpos[:] = qpos
        writer.qvel[:] = np.gradient(qpos, sim.control_period_s, axis=0)
        writer.action[:] = demo.joint_targets
        if not sim.task.demo_is_usable(rewards):
            writer.abort()
            return {'seed': seed, 'kept': False, 'reason': 'joint replay not usable'}
        writer.set_attributes({
            'sim': True, 'task': TASK, 'robot': 'aloha_sim', 'vector_names': _vector_names(),
            'camera_names': [CAMERA], 'control_rate_hz': 50.0, 'success': True, 'seed': seed,
            'source': 'bench/gpu_pipeline.py (scripted, no ROS)', 'episode_index': seed,
            'render_settings': _render_settings().to_dict(),
        })
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    finally:
        renderer.close()
    return {'seed': seed, 'kept': True}


def _vector_names() -> list[str]:
    joints = ['waist', 'shoulder', 'elbow', 'forearm_roll', 'wrist_angle', 'wrist_rotate', 'gripper']
    return [f'{side}_{joint}' for side in ('left', 'right') for joint in joints]


def evaluate_episode(args: tuple[str, int, str, float]) -> dict:
    """One closed-loop episode; runs in a worker process with its own copy of the policy."""
    checkpoint, seed, device, m = args
    from act_policy_node.temporal_ensembler import Weighting, ensemble
    from act_sim.rendering import CameraRenderer, CameraSpec
    from act_sim.sim import AlohaSim
    from act_training.policy import ActPolicy

    policy = ActPolicy.load(checkpoint, device=device)
    sim = AlohaSim(TASK)
    height, width = 480, 640
    renderer = CameraRenderer(sim.model, [CameraSpec(CAMERA, height, width)], _render_settings())
    sim.reset(seed)
    steps = sim.task.episode_length
    chunk = policy.chunk_size
    # predictions[t] holds row (t - t_c) of every chunk t_c <= t < t_c + chunk, oldest first.
    predictions: list[list[np.ndarray]] = [[] for _ in range(steps + chunk)]
    latencies = []
    for step in range(steps):
        image = renderer.render(sim.data, CAMERA)
        started = time.perf_counter()
        actions = policy.predict_chunk({CAMERA: image}, sim.state_vector())  # (chunk, 14)
        latencies.append(time.perf_counter() - started)
        for row in range(chunk):
            predictions[step + row].append(actions[row])
        target = ensemble(np.stack(predictions[step]), m, Weighting.OLDEST_FIRST)
        sim.step(target)
    renderer.close()
    return {'seed': seed, 'success': bool(sim.success), 'max_reward': float(sim.episode_max_reward),
            'inference_ms_median': 1e3 * float(np.median(latencies))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--output', type=Path, required=True)
    parser.add_argument('--episodes', type=int, default=50, help='scripted seeds to try for training data')
    parser.add_argument('--eval-episodes', type=int, default=50)
    parser.add_argument('--config', default='paper', help='training config (name in act_training/config/training or a path)')
    parser.add_argument('--set', action='append', default=[], help='training config override key=value')
    parser.add_argument('--workers', type=int, default=max(1, (os.cpu_count() or 2) - 2))
    parser.add_argument('--eval-workers', type=int, default=8)
    parser.add_argument('--device', default='cuda')
    parser.add_argument('--stage', choices=['all', 'data', 'train', 'eval'], default='all')
    parser.add_argument('--ensemble-m', type=float, default=0.01)
    args = parser.parse_args()

    from act_training.config import load_training_configs
    from act_training.train.trainer import train

    data_dir, run_dir = args.output / 'episodes', args.output / 'train'
    summary_path = args.output / 'summary.json'
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    context = mp.get_context('spawn')

    if args.stage in ('all', 'data'):
        data_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        jobs = [(seed, str(data_dir), 480, 640) for seed in range(args.episodes)]
        with context.Pool(args.workers) as pool:
            results = pool.map(generate_episode, jobs)
        kept = [r['seed'] for r in results if r['kept']]
        summary['data'] = {'seeds_tried': args.episodes, 'episodes_kept': len(kept),
                           'failed': [r for r in results if not r['kept']], 'seconds': time.monotonic() - started}
        print(f"data: {len(kept)}/{args.episodes} episodes in {summary['data']['seconds']:.0f} s", flush=True)
        summary_path.write_text(json.dumps(summary, indent=2))

    if args.stage in ('all', 'train'):
        config = args.config
        if not Path(config).suffix:
            config = str(Path(__file__).resolve().parents[1] / 'act_training' / 'config' / 'training' / f'{config}.yaml')
        model_config, train_config = load_training_configs(config, [f'train.device={args.device}', *args.set])
        result = train(model_config, train_config, data_dir, run_dir, progress='bar')
        summary['train'] = {'steps': result.steps, 'seconds': result.seconds, 'samples_per_s': result.samples_per_s,
                            'best_val_l1': result.best_val_l1, 'best_step': result.best_step,
                            'final_val_l1': result.final_val_l1, 'final_train_l1': result.final_train_l1,
                            'overrides': args.set, 'config': config}
        print(f"train: {result.steps} steps in {result.seconds:.0f} s, {result.samples_per_s:.1f} samples/s, "
              f"best val L1 {result.best_val_l1}", flush=True)
        summary_path.write_text(json.dumps(summary, indent=2))

    if args.stage in ('all', 'eval'):
        checkpoint = run_dir / 'best' if (run_dir / 'best').exists() else run_dir / 'last'
        started = time.monotonic()
        seeds = range(EVAL_SEED_START, EVAL_SEED_START + args.eval_episodes)
        with context.Pool(args.eval_workers) as pool:
            episodes = pool.map(evaluate_episode, [(str(checkpoint), seed, args.device, args.ensemble_m) for seed in seeds])
        # Plain-Python loop, the sim waiting for each inference: lockstep.
        rate = SuccessRate.from_outcomes([e['success'] for e in episodes], [e['seed'] for e in episodes], 'lockstep')
        summary['eval'] = {'checkpoint': str(checkpoint), 'episodes': episodes, 'success_rate': rate.rate,
                           'success': {**rate.to_dict(), 'text': rate.describe()},
                           'mean_max_reward': float(np.mean([e['max_reward'] for e in episodes])),
                           'seconds': time.monotonic() - started}
        print(f"eval: success {rate.describe()}, mean max reward "
              f"{summary['eval']['mean_max_reward']:.2f}, {summary['eval']['seconds']:.0f} s", flush=True)
        summary_path.write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
