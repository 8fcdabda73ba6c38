"""The simulated bimanual ALOHA as a ROS 2 robot: `sim_node`.

Topics and services (names from the robot config, act_common/config/robots/aloha_sim.yaml):

  =====================================  ===============================  ==========  =====
  name                                   type                             QoS         dir
  =====================================  ===============================  ==========  =====
  /clock (robot.clock_topic)             rosgraph_msgs/Clock              CLOCK_QOS   pub
  /follower_<arm>/joint_states           sensor_msgs/JointState           SENSOR_QOS  pub
  /cameras/<camera>/image_raw            sensor_msgs/Image (rgb8)         SENSOR_QOS  pub
  /sim/task_reward                       act_msgs/TaskReward              REWARD_QOS  pub (act_common.interfaces)
  /follower_<arm>/commands/joint_pos...  std_msgs/Float64MultiArray       COMMAND_QOS sub
  /sim/reset                             act_msgs/ResetSim                            srv
  =====================================  ===============================  ==========  =====

- Joint states, per arm, every step: waist, shoulder, elbow, forearm_roll, wrist_angle,
  wrist_rotate (rad), gripper (the ViperX gripper motor angle, rad, derived from the
  finger), left_finger, right_finger (m); velocities and actuator efforts alongside.
- Images, per configured camera, every step, only while someone subscribes: rgb8 of the
  size in the robot config, stamped with the sim time of the state they show, frame id
  from the config.
- Commands, per arm: 7 values, the six arm joints in the config's joint order (rad) and
  the gripper opening normalized 0 = closed .. 1 = open. A command is held until the next
  one; one of the wrong length or with a non-finite value is rejected and logged, and the
  robot keeps the previous command. A reset commands the home pose.
- Reward: the task's reward after each step, its highest value since the reset, success.
- Reset: reloads the task if another is named, puts the robot home and the objects at
  the seeded pose; answers with the object poses. The reset takes one control period of
  sim time and publishes the new episode's first state (step 0).

Timing. The node is the clock: sim time advances by exactly one control period (0.02 s)
per physics step and never jumps back (a reset is a step too). Every other node runs with
use_sim_time, so its timers fire on this clock. Each tick the node (1) takes the newest
command of each arm, (2) steps physics for one period, (3) publishes the joint states,
images and reward of the new state, then /clock last, so that a node whose timer fires on
the new time already has the observation of that time. A command computed from the
observation at step k therefore acts during step k+1 -> k+2, as on the real robot.
- real_time_factor > 0: ticks are paced to the wall clock (1.0 = real time). A command
  must arrive within one period of wall time to act on the next step.
- real_time_factor = 0 (as fast as possible, lockstep): after publishing step k the node
  waits until every arm whose command topic has a publisher has sent a new command (at
  most lockstep_timeout_s of wall time, then it steps with the held command). A
  commander that publishes one command per arm per /clock tick (the scripted players,
  teleop, the policy node) then acts on every step exactly as if time were real, however
  slow or loaded the machine: this is what makes scripted replays through ROS
  deterministic. A commander that falls silent slows the sim to one step per timeout.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import rclpy
from act_msgs.msg import TaskReward
from act_msgs.srv import ResetSim
from rclpy.exceptions import ParameterUninitializedException
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float64MultiArray

from act_common import diagnostics
from act_common.image_encoding import rgb_to_image_fields
from act_common.parameters import ParameterSpec, ParameterTable
from act_common.interfaces import SIM_NODE, SIM_RESET_SERVICE, TASK_REWARD_QOS, TASK_REWARD_TOPIC
from act_common.qos import CLOCK_QOS, COMMAND_QOS, SENSOR_QOS
from act_common.robot_config import RobotConfig, load_robot_config
from act_common.ros_time import NS_PER_S, ns_to_sec_nanosec
from act_sim.rendering import CameraRenderer, CameraSpec, RenderSettings
from act_sim.robot_binding import ArmBinding, ArmCommandError, bind_robot, finger_calibration
from act_sim.scene import FOLLOWER_JOINT_NAMES
from act_sim.sim import AlohaSim, home_targets
from act_sim.tasks import TASK_NAMES

# The node's parameters (act_common.parameters): declared from here, checked against
# config/sim.yaml, listed in the README.
PARAMETERS = ParameterTable('sim_node', [
    ParameterSpec('robot_config', 'string', '', 'Path of the robot config YAML (act_common/config/robots/aloha_sim.yaml).',
                  'start'),
    ParameterSpec('task', 'string', 'transfer_cube', 'Task at start; /sim/reset switches.', 'start',
                  choices=tuple(TASK_NAMES)),
    ParameterSpec('cameras', 'string_array', None,
                  'Cameras to publish, a subset of the robot config cameras; unset = all of them.', 'start'),
    ParameterSpec('seed', 'int', 0, 'Seed of the object pose of the first episode.', 'start'),
    ParameterSpec('real_time_factor', 'double', 1.0,
                  'Sim seconds per wall second; 0 = as fast as possible, in lockstep with the commanders.',
                  range=(0.0, 100.0)),
    ParameterSpec('lockstep_timeout_s', 'double', 0.5,
                  'With real_time_factor 0: longest wall time to wait for new commands before stepping anyway.',
                  range=(0.001, 60.0)),
    ParameterSpec('shadow_map_size', 'int', RenderSettings.shadow_map_size,
                  'Shadow map side in pixels; 0 = no shadows, about twice as fast on a CPU (bench/bench_sim.py).',
                  'start', range=(0, 16384)),
    ParameterSpec('multisamples', 'int', RenderSettings.multisamples, 'Anti-aliasing samples per pixel, 0 = off.',
                  'start', range=(0, 16)),
    ParameterSpec('diagnostics_overrun_warn', 'double', 0.1,
                  '/diagnostics: a fraction of paced steps that overran their period above this is WARN.',
                  range=(0.0, 1.0)),
])

# Sim time of the first state. Not zero: a zero stamp reads as "no time" to many tools.
START_TIME_NS = NS_PER_S


@dataclass
class _ResetRequest:
    task: str
    seed: int
    done: threading.Event
    response: ResetSim.Response


class SimNode(Node):
    """Steps the simulated ALOHA on a worker thread and speaks the robot's topics."""

    def __init__(self, **node_kwargs):
        super().__init__(SIM_NODE, **node_kwargs)
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        # Commands: written by subscription callbacks, read by the worker.
        self._command_lock = threading.Condition()
        self._values = PARAMETERS.declare(self, self._apply_parameters)
        self.robot: RobotConfig = self._load_robot()
        self._bindings: list[ArmBinding] = bind_robot(self.robot)
        self._cameras = self._selected_cameras()
        self._render_settings = RenderSettings(
            shadow_map_size=self.get_parameter('shadow_map_size').value,
            multisamples=self.get_parameter('multisamples').value,
        )
        self._period_ns = round(NS_PER_S / self.robot.control_rate_hz)
        self._sim = AlohaSim(self.get_parameter('task').value, control_period_s=self._period_ns / NS_PER_S,
                             finger=finger_calibration(self._bindings))
        self._sim.reset(self.get_parameter('seed').value)
        self._clock_ns = START_TIME_NS

        self._held = home_targets(self._sim.finger)
        self._fresh = [False] * len(self._bindings)
        self._reset_request: _ResetRequest | None = None

        self._clock_pub = self.create_publisher(Clock, self.robot.clock_topic, CLOCK_QOS)
        self._joint_pubs = [self.create_publisher(JointState, b.arm.follower.joint_states_topic, SENSOR_QOS)
                            for b in self._bindings]
        self._image_pubs = {camera.name: self.create_publisher(Image, camera.topic, SENSOR_QOS) for camera in self._cameras}
        self._reward_pub = self.create_publisher(TaskReward, TASK_REWARD_TOPIC, TASK_REWARD_QOS)
        # Callbacks only store (commands) or hand over to the worker (reset): the node spins on
        # a single-threaded executor, with no callback groups.
        self._command_subs = [
            self.create_subscription(Float64MultiArray, b.arm.follower.command.topic,
                                     lambda msg, i=i: self._on_command(i, msg), COMMAND_QOS)
            for i, b in enumerate(self._bindings)
        ]
        self.create_service(ResetSim, SIM_RESET_SERVICE, self._on_reset)

        self.steps_taken = 0
        self.overruns = 0
        self._diagnostics = diagnostics.DiagnosticsTimer(self, self.diagnostic_statuses)
        self._worker = threading.Thread(target=self._run, name='sim-step', daemon=True)
        self._worker.start()
        self.get_logger().info(
            f'simulating {self._sim.task.name} (seed {self._sim.seed}) for robot {self.robot.name!r}, '
            f'cameras {[c.name for c in self._cameras]}, real_time_factor {self._real_time_factor}')

    # --- parameters ---

    def _apply_parameters(self, values: dict, changed: dict) -> None:
        """Caches what the worker reads every tick (the table checked each value)."""
        self._values = values
        self._real_time_factor = float(values['real_time_factor'])
        self._lockstep_timeout_s = float(values['lockstep_timeout_s'])
        with self._command_lock:
            self._command_lock.notify_all()

    def diagnostic_statuses(self) -> list[diagnostics.Status]:
        """The /diagnostics statuses now: stepping (steps, overruns of the paced period)."""
        steps, overruns, rtf = self.steps_taken, self.overruns, self._real_time_factor
        fraction = overruns / steps if steps and rtf > 0 else 0.0
        level = diagnostics.Band(self._values['diagnostics_overrun_warn']).level(fraction)
        mode = 'lockstep' if rtf == 0 else f'real_time_factor {rtf:g}'
        return [diagnostics.Status('sim_node: stepping', level,
                                   f'{self._sim.task.name}, {mode}: {steps} steps, {overruns} overran',
                                   {'steps': str(steps), 'overruns': str(overruns), 'overrun_fraction': f'{fraction:.3g}',
                                    'sim_time_s': f'{self._clock_ns / NS_PER_S:.2f}'})]

    def _load_robot(self) -> RobotConfig:
        path = self.get_parameter('robot_config').value
        if not path:
            raise ValueError('parameter robot_config is empty: give the path of a robot config YAML '
                             '(act_common/config/robots/aloha_sim.yaml; `act sim` passes it)')
        return load_robot_config(path)

    def _selected_cameras(self):
        try:
            names = self.get_parameter('cameras').value
        except ParameterUninitializedException:
            names = None
        if names is None:
            return list(self.robot.cameras)
        unknown = [name for name in names if name not in self.robot.camera_names]
        if unknown:
            raise ValueError(f'parameter cameras: {unknown} are not cameras of robot {self.robot.name!r} '
                             f'({self.robot.source_path}); it has {list(self.robot.camera_names)}')
        return [self.robot.camera(name) for name in names]

    # --- callbacks: store and return ---

    def _on_command(self, arm: int, msg: Float64MultiArray) -> None:
        binding = self._bindings[arm]
        try:
            values = binding.scene_command(msg.data)
        except ArmCommandError as error:
            self.get_logger().warning(f'rejected command: {error}', throttle_duration_sec=1.0)
            return
        with self._command_lock:
            self._held[binding.scene_slice] = values
            self._fresh[arm] = True
            self._command_lock.notify_all()

    def _on_reset(self, request: ResetSim.Request, response: ResetSim.Response) -> ResetSim.Response:
        task = request.task or self._sim.task.name
        if task not in TASK_NAMES:
            response.result = ResetSim.Response.RESULT_UNKNOWN_TASK
            response.message = f'unknown task {task!r}; known tasks: {list(TASK_NAMES)}'
            return response
        pending = _ResetRequest(task=task, seed=int(request.seed), done=threading.Event(), response=response)
        with self._command_lock:
            self._reset_request = pending
            self._command_lock.notify_all()
        # The worker resets at its next tick, ordered with the steps; the GL context of the
        # cameras stays on its thread. This waits one tick (plus a scene load on a task change).
        if not pending.done.wait(timeout=30.0):
            response.result = ResetSim.Response.RESULT_FAILED
            response.message = 'the simulation did not reset within 30 s'
        return response

    # --- worker ---

    def _run(self) -> None:
        renderer = None
        try:
            renderer = self._make_renderer()
            self._publish_state(renderer)
            next_tick = time.monotonic()
            while not self._stop.is_set() and rclpy.ok(context=self.context):
                next_tick = self._wait_for_tick(next_tick)
                if self._stop.is_set():
                    break
                with self._command_lock:
                    reset, self._reset_request = self._reset_request, None
                    targets = self._held.copy()
                    self._fresh = [False] * len(self._fresh)
                if reset is not None:
                    if reset.task != self._sim.task.name:
                        renderer.close()
                        self._sim = AlohaSim(reset.task, self._sim.control_period_s, self._sim.finger)
                        renderer = self._make_renderer()
                    self._apply_reset(reset)
                else:
                    self._sim.step(targets)
                    self.steps_taken += 1
                self._clock_ns += self._period_ns
                self._publish_state(renderer)
        except Exception as error:  # a dead worker must not go unnoticed
            if self._stop.is_set() or not self.context.ok():
                return  # shutting down: the publishers went away under the last tick
            self.get_logger().fatal(f'simulation stopped: {type(error).__name__}: {error}')
            raise
        finally:
            if renderer is not None:
                renderer.close()

    def _wait_for_tick(self, next_tick: float) -> float:
        rtf = self._real_time_factor
        if rtf > 0:
            next_tick += self._period_ns / NS_PER_S / rtf
            delay = next_tick - time.monotonic()
            if delay > 0:
                with self._command_lock:
                    self._command_lock.wait_for(lambda: self._stop.is_set() or self._reset_request is not None,
                                                timeout=delay)
            elif delay < -self._period_ns / NS_PER_S:
                self.overruns += 1
                next_tick = time.monotonic()  # behind by more than a tick: do not burst to catch up
            return next_tick
        deadline = time.monotonic() + self._lockstep_timeout_s
        with self._command_lock:
            while not self._stop.is_set() and self._reset_request is None and self._real_time_factor == 0:
                waiting = [i for i, fresh in enumerate(self._fresh)
                           if not fresh and self._command_subs[i].get_publisher_count() > 0]
                remaining = deadline - time.monotonic()
                if not waiting or remaining <= 0:
                    break
                self._command_lock.wait(timeout=min(remaining, 0.05))
        return time.monotonic()

    def _apply_reset(self, reset: _ResetRequest) -> None:
        try:
            poses = self._sim.reset(reset.seed)
        except Exception as error:  # report it to the caller, keep simulating
            reset.response.result = ResetSim.Response.RESULT_FAILED
            reset.response.message = f'reset failed: {type(error).__name__}: {error}'
        else:
            with self._command_lock:
                self._held = home_targets(self._sim.finger)
                self._fresh = [False] * len(self._fresh)
            reset.response.result = ResetSim.Response.RESULT_OK
            reset.response.message = f'{self._sim.task.name} reset with seed {reset.seed}'
            reset.response.object_poses = poses.reshape(-1).tolist()
        reset.done.set()

    def _make_renderer(self) -> CameraRenderer:
        specs = [CameraSpec(camera.name, camera.height, camera.width) for camera in self._cameras]
        return CameraRenderer(self._sim.model, specs, self._render_settings)

    def _publish_state(self, renderer: CameraRenderer) -> None:
        sec, nanosec = ns_to_sec_nanosec(self._clock_ns)
        for camera in self._cameras:
            publisher = self._image_pubs[camera.name]
            if publisher.get_subscription_count() == 0:
                continue
            image = Image(**rgb_to_image_fields(renderer.render(self._sim.data, camera.name)))
            image.header.stamp.sec, image.header.stamp.nanosec = sec, nanosec
            image.header.frame_id = camera.frame_id
            publisher.publish(image)
        for binding, publisher in zip(self._bindings, self._joint_pubs):
            position, velocity, effort = self._sim.follower_joint_state(binding.scene_index)
            state = JointState(name=list(FOLLOWER_JOINT_NAMES), position=position.tolist(),
                               velocity=velocity.tolist(), effort=effort.tolist())
            state.header.stamp.sec, state.header.stamp.nanosec = sec, nanosec
            publisher.publish(state)
        reward = TaskReward(task=self._sim.task.name, seed=self._sim.seed, step=self._sim.step_count,
                            reward=float(self._sim.reward), max_reward=float(self._sim.task.max_reward),
                            episode_max_reward=float(self._sim.episode_max_reward), success=self._sim.success)
        reward.header.stamp.sec, reward.header.stamp.nanosec = sec, nanosec
        self._reward_pub.publish(reward)
        clock = Clock()
        clock.clock.sec, clock.clock.nanosec = sec, nanosec
        self._clock_pub.publish(clock)

    # --- lifetime ---

    @property
    def render_settings(self) -> RenderSettings:
        """How the cameras are rendered (recorded with each sim episode)."""
        return self._render_settings

    def destroy_node(self) -> None:
        self._stop.set()
        with self._command_lock:
            self._command_lock.notify_all()
        if self._worker is not None and self._worker.is_alive() and threading.current_thread() is not self._worker:
            self._worker.join(timeout=10.0)
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    from act_common.node_main import spin_node

    # Callbacks only store; stepping runs on the node's own thread.
    spin_node(SimNode, args)


if __name__ == '__main__':
    main()
