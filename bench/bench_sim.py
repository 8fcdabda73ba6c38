"""Sim step time of the simulated ALOHA, as a real-time factor at 50 Hz on this machine.

    python bench/bench_sim.py [--steps 100] [--task transfer_cube]

Measures, at 480x640:
  core: AlohaSim.step (10 MuJoCo steps = 0.02 s) alone and with 1 and 4 cameras rendered,
        with a 1024 shadow map and no multisampling, without
        shadows (RenderSettings' default), and with the scene's own settings (4096 shadow map, 4x multisampling,
        what gym-aloha renders with);
  node: sim_node stepping as fast as it can (real_time_factor 0, no commander) while a
        subscriber takes 0, 1 or 4 camera topics: rendering, message building and DDS.
Real-time factor = simulated seconds per wall second (1.0 = keeps up with 50 Hz).
Needs MUJOCO_GL=egl (scripts/env.sh sets it). Timings on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import os
import threading
import time

CAMERAS = ('top', 'angle', 'left_wrist', 'right_wrist')
PERIOD_S = 0.02


def core_step_ms(task: str, steps: int, cameras: tuple[str, ...], shadow_map_size: int, multisamples: int) -> float:
    from act_sim.rendering import CameraRenderer, CameraSpec, RenderSettings
    from act_sim.sim import AlohaSim, home_targets

    sim = AlohaSim(task)
    sim.reset(0)
    renderer = CameraRenderer(sim.model, [CameraSpec(name, 480, 640) for name in cameras],
                              RenderSettings(shadow_map_size, multisamples)) if cameras else None
    targets = home_targets()
    try:
        for name in cameras:  # warm up: contexts, shaders
            renderer.render(sim.data, name)
        start = time.perf_counter()
        for _ in range(steps):
            sim.step(targets)
            for name in cameras:
                renderer.render(sim.data, name)
        return (time.perf_counter() - start) / steps * 1000
    finally:
        if renderer is not None:
            renderer.close()


def node_step_ms(task: str, steps: int, cameras: tuple[str, ...]) -> float:
    from act_common.node_set import NodeSet, NodeSpec
    from act_common.config_paths import robot_config_path
    from act_common.qos import SENSOR_QOS
    from act_sim.sim_node import SimNode
    from rclpy.node import Node
    from sensor_msgs.msg import Image

    class ImageTaker(Node):
        def __init__(self, **node_kwargs):
            super().__init__('bench_image_taker', **node_kwargs)
            self.count = 0
            self.lock = threading.Lock()
            robot = self_robot
            for name in cameras:
                self.create_subscription(Image, robot.camera(name).topic, self._take, SENSOR_QOS)

        def _take(self, msg):
            with self.lock:
                self.count += 1

    from act_common.robot_config import load_robot_config

    robot_path = str(robot_config_path('aloha_sim'))
    self_robot = load_robot_config(robot_path)
    specs = [NodeSpec(SimNode, overrides={'robot_config': robot_path, 'task': task, 'real_time_factor': 0.0,
                                          'cameras': list(CAMERAS)}),
             NodeSpec(ImageTaker)]
    with NodeSet(specs, threads=1) as nodes:
        nodes.spin_in_background()
        sim = nodes.node(SimNode)
        # Wait until every image topic is matched, then count steps over a window.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(
                sim._image_pubs[name].get_subscription_count() == 0 for name in cameras):
            time.sleep(0.05)
        time.sleep(0.5)
        first, start = sim.steps_taken, time.perf_counter()
        while sim.steps_taken - first < steps:
            time.sleep(0.01)
        return (time.perf_counter() - start) / (sim.steps_taken - first) * 1000


def report(label: str, ms: float) -> None:
    print(f'{label:<58} {ms:8.2f} ms/step   real-time factor {PERIOD_S * 1000 / ms:7.2f}', flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--task', default='transfer_cube')
    parser.add_argument('--steps', type=int, default=100, help='steps per measurement (physics only: 20x)')
    args = parser.parse_args()
    print(f'MUJOCO_GL={os.environ.get("MUJOCO_GL")}, {os.cpu_count()} CPUs, task {args.task}, 480x640 images')
    report('core: physics only', core_step_ms(args.task, args.steps * 20, (), 1024, 0))
    for cameras in (CAMERAS[:1], CAMERAS):
        n = len(cameras)
        report(f'core: physics + {n} camera(s), 1024 shadow map', core_step_ms(args.task, args.steps, cameras, 1024, 0))
        report(f'core: physics + {n} camera(s), no shadows (default)', core_step_ms(args.task, args.steps, cameras, 0, 0))
        report(f'core: physics + {n} camera(s), 4096 shadows, 4x MSAA (stock)', core_step_ms(args.task, args.steps, cameras, 4096, 4))
    for cameras in ((), CAMERAS[:1], CAMERAS):
        report(f'node: sim_node, {len(cameras)} camera topic(s) subscribed', node_step_ms(args.task, args.steps, cameras))


if __name__ == '__main__':
    main()
