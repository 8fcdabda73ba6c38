"""The policy node's real-time figures on this machine.

    . scripts/env.sh && python bench/bench_policy_loop.py                  # 5 min loop, CPU
    python bench/bench_policy_loop.py --duration 60 --skip-lerobot
    python bench/bench_policy_loop.py --device cuda                         # on a GPU machine

1. Inference latency: ActPolicy.predict_chunk against LeRobot's ACTPolicy.select_action
   (temporal ensembling on, so it runs the network on every call) on the same model
   config, in alternating rounds so both see the same load on a shared machine. LeRobot
   runs in its own process from the benchmark venv (bench/setup_lerobot_venv.sh), never
   in the suite's .venv. Target: ours at least 1.5x faster.
2. Control loop: the policy node at 50 Hz for --duration seconds while inference runs as
   fast as it can, fed by a synthetic robot in another process (cameras at 480x640 rgb8
   and joint states at 50 Hz, stamped with the wall clock, as a driver would). Reported:
   tick lateness (timer callback start vs its nominal tick), deadline misses (ticks that
   never ran: target under 1%), ticks held, inference latency inside the node, and the
   end-to-end latency from an image's stamp to the first command that used it.

The checkpoint: --checkpoint DIR, or by default one of the paper's config (one 480x640
camera, ResNet-18, dim 512, 4 encoder / 1 decoder layers, chunk 100) trained one step on
synthetic episodes: the weights do not change the timing. Prints figures and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_LEROBOT_PYTHON = [ROOT / '.venv-lerobot04' / 'bin' / 'python']


def paper_checkpoint(workdir: Path, robot, cameras: tuple[str, ...]) -> Path:
    sys.path.insert(0, str(ROOT / 'act_policy_node' / 'test'))
    from policy_checkpoints import write_episodes
    from act_training.config import ModelConfig, TrainConfig
    from act_training.train.trainer import train

    data = write_episodes(workdir / 'episodes', robot, cameras, count=2, length=12, height=480, width=640)
    model = ModelConfig(camera_names=cameras, backbone_weights='none')  # the paper's sizes
    config = TrainConfig(steps=1, batch_size=2, val_fraction=0.0, checkpoint_every=1, log_every=1, device='cpu',
                         num_workers=0, tensorboard=False)
    return train(model, config, data, workdir / 'run', progress=None).last_checkpoint


def summary_ms(values: list[float]) -> dict:
    values = sorted(values)
    return {'n': len(values), 'median': 1e3 * statistics.median(values),
            'p90': 1e3 * values[min(len(values) - 1, int(0.9 * len(values)))], 'min': 1e3 * values[0]}


def compare_with_lerobot(policy, checkpoint: Path, device: str, rounds: int, per_round: int,
                         lerobot_python: Path | None) -> dict:
    import numpy as np

    rng = np.random.default_rng(0)
    height, width = policy.image_size
    images = {name: rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8) for name in policy.camera_names}
    qpos = np.zeros(policy.state_dim)
    for _ in range(3):
        policy.predict_chunk(images, qpos)
    config = json.loads((checkpoint / 'config.json').read_text())['model']
    spec = {key: config[key] for key in ('image_height', 'image_width', 'chunk_size', 'dim_model', 'n_heads',
                                         'dim_feedforward', 'n_encoder_layers', 'n_decoder_layers', 'latent_dim')}
    # LeRobot at the precision ours runs in: under torch.autocast for bf16 (its use_amp).
    spec.update(camera_names=list(policy.camera_names), state_dim=policy.state_dim, action_dim=policy.action_dim,
                device=device, precision=policy.precision)
    lerobot = None
    if lerobot_python is not None:
        lerobot = subprocess.Popen([str(lerobot_python), str(ROOT / 'bench' / 'lerobot_act_latency.py'), json.dumps(spec)],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        header = json.loads(lerobot.stdout.readline())
    ours, theirs, convert = [], [], []
    try:
        for _ in range(rounds):
            for _ in range(per_round):
                started = time.perf_counter()
                policy.predict_chunk(images, qpos)  # uint8 frames in, actions in robot units out
                ours.append(time.perf_counter() - started)
            if lerobot is not None:
                lerobot.stdin.write(f'{per_round}\n')
                lerobot.stdin.flush()
                answer = json.loads(lerobot.stdout.readline())
                theirs += answer['select_action_s']
                convert += answer['uint8_to_float_s']
    finally:
        if lerobot is not None:
            lerobot.stdin.close()
            lerobot.wait(timeout=60)
    result = {'model': spec, 'ours_predict_chunk_ms': summary_ms(ours)}
    if lerobot is not None:
        result.update(lerobot=header, lerobot_select_action_ms=summary_ms(theirs),
                      lerobot_uint8_to_float_ms=summary_ms(convert),
                      speedup_median=statistics.median(theirs) / statistics.median(ours))
    return result


def publish_robot(cameras: list[str], duration_s: float) -> None:
    """Subprocess mode: a synthetic robot driver at the control rate (wall-clock stamps)."""
    import numpy as np
    import rclpy
    from rclpy.executors import ExternalShutdownException
    from rclpy.signals import SignalHandlerOptions
    from sensor_msgs.msg import Image, JointState

    from act_common.config_paths import robot_config_path
    from act_common.image_encoding import rgb_to_image_fields
    from act_common.qos import SENSOR_QOS
    from act_common.robot_config import load_robot_config

    robot = load_robot_config(robot_config_path('aloha_sim'))
    # No rclpy signal handlers: the benchmark's SIGTERM ends this process at once, instead
    # of invalidating the context under a timer that is about to publish.
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node('bench_synthetic_robot')
    rng = np.random.default_rng(1)
    frames = {name: rgb_to_image_fields(rng.integers(0, 256, size=(robot.camera(name).height, robot.camera(name).width, 3),
                                                     dtype=np.uint8)) for name in cameras}
    camera_pubs = {name: node.create_publisher(Image, robot.camera(name).topic, SENSOR_QOS) for name in cameras}
    joint_pubs = [node.create_publisher(JointState, arm.follower.joint_states_topic, SENSOR_QOS) for arm in robot.arms]
    names = ['waist', 'shoulder', 'elbow', 'forearm_roll', 'wrist_angle', 'wrist_rotate', 'left_finger', 'right_finger']
    home = [0.0, -0.96, 1.16, 0.0, -0.3, 0.0, 0.04, -0.04]

    def tick():
        stamp = node.get_clock().now().to_msg()
        for name, publisher in camera_pubs.items():
            image = Image(**frames[name])
            image.header.stamp, image.header.frame_id = stamp, robot.camera(name).frame_id
            publisher.publish(image)
        for publisher in joint_pubs:
            state = JointState(name=names, position=home)
            state.header.stamp = stamp
            publisher.publish(state)

    node.create_timer(robot.control_period_s, tick)
    end = time.monotonic() + duration_s
    try:
        while time.monotonic() < end and rclpy.ok():
            rclpy.spin_once(node, timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass  # terminated by the benchmark
    node.destroy_node()
    if rclpy.ok():
        rclpy.shutdown()


def run_control_loop(checkpoint: Path, device: str, precision: str, duration_s: float, torch_threads: int,
                     cameras: list[str]) -> dict:
    from rclpy.lifecycle import TransitionCallbackReturn

    from act_common.node_set import NodeSet, NodeSpec
    from act_common.config_paths import robot_config_path
    from act_policy_node.policy_node import PolicyNode

    publisher = subprocess.Popen([sys.executable, __file__, '--publish-robot', ','.join(cameras),
                                  '--duration', str(duration_s + 60)])
    overrides = {'robot_config': str(robot_config_path('aloha_sim')), 'checkpoint': str(checkpoint), 'device': device,
                 'precision': precision, 'torch_threads': torch_threads}
    try:
        with NodeSet([NodeSpec(PolicyNode, overrides=overrides)], threads=1) as nodes:
            nodes.spin_in_background()
            node = nodes.node(PolicyNode)
            if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
                raise SystemExit(f'policy node refused the checkpoint: {node.status_detail}')
            # Activate once the robot's data flows (discovery across processes takes a second or two).
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and None in node.observation_stamps().values():
                time.sleep(0.1)
            node.trigger_activate()
            started = time.monotonic()
            while time.monotonic() - started < duration_s:
                time.sleep(1.0)
            report = node.stats.report()
            node.trigger_deactivate()
    finally:
        publisher.terminate()
        publisher.wait(timeout=30)
    report['duration_s'] = duration_s
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--duration', type=float, default=300.0, help='control-loop run, seconds (default 300)')
    parser.add_argument('--device', default='cpu', help='cpu or cuda')
    parser.add_argument('--precision', default='auto', choices=('auto', 'fp32', 'bf16'),
                        help="ours (and LeRobot's, at the same precision): auto = bf16 where native (default)")
    parser.add_argument('--checkpoint', type=Path, help="checkpoint folder (default: the paper's config, trained 1 step)")
    parser.add_argument('--torch-threads', type=int, default=0, help='policy node torch_threads (0 = torch default)')
    parser.add_argument('--rounds', type=int, default=5, help='alternating inference rounds (default 5)')
    parser.add_argument('--per-round', type=int, default=6, help='inferences per round and side (default 6)')
    parser.add_argument('--skip-lerobot', action='store_true', help='no LeRobot comparison')
    parser.add_argument('--skip-loop', action='store_true', help='no control-loop run')
    parser.add_argument('--lerobot-python', type=Path, help='python of the LeRobot venv')
    parser.add_argument('--output', type=Path, default=Path('bench_policy_loop.json'), help='JSON results')
    parser.add_argument('--publish-robot', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.publish_robot is not None:
        publish_robot(args.publish_robot.split(','), args.duration)
        return 0

    from act_common.config_paths import robot_config_path
    from act_common.cpu_features import cpu_features
    from act_tools.paths import use_large_data_dds_profile
    from act_common.robot_config import load_robot_config
    from act_training.policy import ActPolicy

    use_large_data_dds_profile()  # before any participant; the robot subprocess inherits it

    cpu = cpu_features().describe()
    print(cpu)  # every figure below depends on it
    robot = load_robot_config(robot_config_path('aloha_sim'))
    results = {'machine': {'cpus': os.cpu_count(), 'cpu': cpu, 'load_average_at_start': os.getloadavg()},
               'device': args.device}
    with tempfile.TemporaryDirectory(prefix='bench_policy_') as workdir:
        checkpoint = args.checkpoint or paper_checkpoint(Path(workdir), robot, ('top',))
        policy = ActPolicy.load(checkpoint, device=args.device, precision=args.precision)
        results['precision'] = policy.precision
        cameras = list(policy.camera_names)
        lerobot_python = None
        if not args.skip_lerobot:
            lerobot_python = args.lerobot_python or next((p for p in DEFAULT_LEROBOT_PYTHON if p.exists()), None)
            if lerobot_python is None:
                print('no LeRobot venv found (run bench/setup_lerobot_venv.sh or pass --lerobot-python); '
                      'timing ours only', file=sys.stderr)
        inference = compare_with_lerobot(policy, Path(checkpoint), args.device, args.rounds, args.per_round, lerobot_python)
        results['inference'] = inference
        ours = inference['ours_predict_chunk_ms']
        print(f'inference in {policy.precision}, {ours["n"]} calls: ours predict_chunk median {ours["median"]:.1f} ms (p90 {ours["p90"]:.1f})')
        if 'speedup_median' in inference:
            theirs = inference['lerobot_select_action_ms']
            print(f'  LeRobot {inference["lerobot"]["lerobot_version"]} select_action median {theirs["median"]:.1f} ms '
                  f'(p90 {theirs["p90"]:.1f}; +{inference["lerobot_uint8_to_float_ms"]["median"]:.1f} ms uint8->float '
                  f'not counted) -> speedup {inference["speedup_median"]:.2f}x (target >= 1.5x: '
                  f'{"met" if inference["speedup_median"] >= 1.5 else "NOT met"})')
        del policy
        if not args.skip_loop:
            loop = run_control_loop(Path(checkpoint), args.device, args.precision, args.duration, args.torch_threads, cameras)
            results['control_loop'] = loop
            late, e2e, infer = loop['tick_lateness_ms'], loop['observation_to_command_ms'], loop['inference_latency_ms']
            print(f'control loop, {args.duration:.0f} s at 50 Hz: {loop["ticks"]} ticks, {loop["deadline_misses"]} missed '
                  f'({100 * loop["missed_fraction"]:.2f}%; target < 1%: {"met" if loop["missed_fraction"] < 0.01 else "NOT met"}), '
                  f'{loop["held_ticks"]} held {loop["hold_reasons"]}')
            print(f'  tick lateness median {late["p50"]:.2f} ms, p99 {late["p99"]:.2f} ms, max {late["max"]:.2f} ms')
            print(f'  inference in the node: {loop["chunks_computed"]} chunks, mean {infer["mean"]:.1f} ms, '
                  f'p99 {infer["p99"]:.1f} ms')
            print(f'  image stamp -> first command using it: mean {e2e["mean"]:.1f} ms, p50 {e2e["p50"]:.1f} ms, '
                  f'p99 {e2e["p99"]:.1f} ms, max {e2e["max"]:.1f} ms')
    results['machine']['load_average_at_end'] = os.getloadavg()
    args.output.write_text(json.dumps(results, indent=2) + '\n')
    print(f'results: {args.output} (load average {results["machine"]["load_average_at_start"]} at start, '
          f'{results["machine"]["load_average_at_end"]} at end: a shared machine inflates every figure)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
