"""`policy_node`: runs an ACT checkpoint on a robot, a lifecycle node.

  ==========================================  ==============================  ===========  ===
  topic (names from the robot config)         type                            QoS          dir
  ==========================================  ==============================  ===========  ===
  camera topics of the checkpoint's cameras   sensor_msgs/Image, or           SENSOR_QOS   sub
                                              CompressedImage (compressed)
  /follower_<arm>/joint_states                sensor_msgs/JointState          SENSOR_QOS   sub
  each arm's follower command topic           the arm's command interface     COMMAND_QOS  pub
  robot.action_topic (/act/commanded_action)  sensor_msgs/JointState          COMMAND_QOS  pub
  /act/policy/action_chunk                    act_msgs/ActionChunk            COMMAND_QOS  pub
  /act/policy/chunk_trajectory                trajectory_msgs/JointTrajectory COMMAND_QOS  pub
  /act/policy/status                          act_msgs/PolicyStatus           STATUS_QOS   pub
  /diagnostics (1 Hz, wall clock)             diagnostic_msgs/DiagnosticArray depth 10     pub
  ==========================================  ==============================  ===========  ===

/diagnostics statuses (act_common.diagnostics): 'policy_node: state', 'policy_node:
inference' (rate, latency), 'policy_node: observation <topic>' per subscribed topic (age),
'policy_node: control' (deadline misses, held ticks), 'policy_node: stale chunks'.

Lifecycle: configure loads the checkpoint on `device` and checks it against the robot
config (joints, cameras, control rate: a mismatch fails with both sides named); activate
starts the control timer and inference; deactivate stops commanding (the follower holds
the last command); cleanup frees the model. __init__ allocates nothing but the status
publisher.

Threads: subscription callbacks only store the newest messages (observation_sync);
inference runs on its own thread (inference_worker); the control timer, at the robot's
control rate, publishes every tick the target that
control_loop decides (ensembled, filtered, or the held last command) and never waits for
inference. Timers run on the node's clock, so under use_sim_time the policy follows the
simulator's /clock.

Lockstep (parameter `lockstep`, for a simulator that waits for every command: sim_node
with real_time_factor 0, `act eval --mode lockstep`): a tick on which a query is due
(ticks 0, P, 2P, ... since activation) is commanded only once the chunk computed from that
tick's own observation is in, from the inference thread when it arrives; tick 0 is the
activation itself. Inference latency then costs no sim time and the commands are those of
the paper's synchronous loop (act_tools.lockstep_rollout). Never on a real robot: a
tick would wait for inference.
"""

from __future__ import annotations

import math
import re
import threading
import time
from typing import Any

import numpy as np
from act_msgs.msg import ActionChunk, PolicyStatus
from rclpy.clock import Clock, ClockType
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.time import Time
from sensor_msgs.msg import CompressedImage, Image, JointState
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from act_common.command_backends import RobotCommandPublisher
from act_common import diagnostics
from act_common.command_safety import SafetyLimits
from act_common.interfaces import (POLICY_CHUNK_QOS, POLICY_CHUNK_TOPIC, POLICY_NODE, POLICY_STATUS_TOPIC,
                                   POLICY_TRAJECTORY_TOPIC, STATUS_TOPIC_QOS)
from act_common.qos import SENSOR_QOS
from act_common.robot_config import RobotConfig, load_robot_config
from act_common.ros_time import NS_PER_S, ns_to_sec_nanosec, stamp_to_ns
from act_policy_node.checkpoint_match import match_checkpoint, parse_camera_remap
from act_policy_node.chunk_buffer import TimedChunk
from act_policy_node.control_loop import ControlLoop, ControlSettings, TickDecision
from act_policy_node.inference_worker import InferenceWorker, QuerySettings, effective_query_period, lockstep_query_due
from act_policy_node.observation_sync import ObservationSynchronizer, SynchronizedObservation
from act_policy_node.observations import ObservationError, joint_state_topics, measured_state, policy_images
from act_policy_node.parameters import PARAMETERS
from act_policy_node.temporal_ensembler import Weighting
from act_policy_node.timing_stats import PolicyTimingStats, TickClock, TickTiming

# PolicyStatus goes out at this rate (wall clock, so it keeps coming if /clock stops) and
# on every state change.
STATUS_PERIOD_S = 0.5
# Active with no control tick for this long (wall time): the clock stopped (under
# use_sim_time, the sim is gone); the status says so. 50 periods at 50 Hz.
CLOCK_STALL_S = 1.0
DEVICE_PATTERN = re.compile(r'^(cpu|cuda(:\d+)?)$')


def load_policy(checkpoint: str, device: str, precision: str):
    """act_training's inference API; imported here so that __init__ stays light."""
    from act_training.policy import ActPolicy

    return ActPolicy.load(checkpoint, device=device, precision=precision)


class PolicyNode(LifecycleNode):
    """Thin ROS glue around control_loop, inference_worker and observation_sync (see above)."""

    def __init__(self, **node_kwargs):
        super().__init__(POLICY_NODE, **node_kwargs)
        self._lock = threading.Lock()
        # Read by the parameter callback and by destroy_node, which may run when a bad
        # starting parameter stops the construction.
        self.policy = None
        self._loop: ControlLoop | None = None
        self._worker: InferenceWorker | None = None
        self._configured_entities: list = []
        self._active = False
        self._values = PARAMETERS.defaults()
        self._values = PARAMETERS.declare(self, self._apply_parameters)
        self._status_state = PolicyStatus.STATE_UNCONFIGURED
        self._status_detail = 'unconfigured'
        self._last_problem = ''
        # The newest control tick: node clock (ns) and time.monotonic() (a stopped clock shows).
        self._last_tick_ns: int | None = None
        self._last_tick_wall: float | None = None
        self._status_pub = self.create_publisher(PolicyStatus, POLICY_STATUS_TOPIC, STATUS_TOPIC_QOS)
        self.create_timer(STATUS_PERIOD_S, self.publish_status, clock=Clock(clock_type=ClockType.STEADY_TIME))
        # Set in on_configure, released in on_cleanup.
        self.robot: RobotConfig | None = None
        self.policy = None
        self.stats = PolicyTimingStats()
        self._loop: ControlLoop | None = None
        self._tick_clock: TickClock | None = None
        self._synchronizer: ObservationSynchronizer | None = None
        self._worker: InferenceWorker | None = None
        self._commands: RobotCommandPublisher | None = None
        self._control_timer = None
        self._configured_entities: list = []
        self._cameras = {}
        self._joint_topics: dict[str, str] = {}
        self._chunk_pub = None
        self._trajectory_pub = None
        self._last_decision: TickDecision | None = None
        self._active = False
        self._lockstep = False  # the `lockstep` parameter, read at configure
        # Lockstep: a due tick waiting for the chunk of its own observation; the lock orders
        # the control timer and the inference thread that may both command it.
        # (activation, tick): only a chunk of that activation commands it.
        self._deferred: tuple[int, TickTiming] | None = None
        self._tick_lock = threading.Lock()
        # Counts activations over the node's life (not reset by cleanup): every chunk
        # carries the one it was computed in (control_loop.stale_chunk_reason).
        self._activation = 0
        self.activation_started_ns: int | None = None
        self._rate_sample: tuple[float, int] = (time.monotonic(), 0)  # (when, chunks_computed) for the rate
        self._diagnostics = diagnostics.DiagnosticsTimer(self, self.diagnostic_statuses)

    @property
    def is_active(self) -> bool:
        return self._active

    @property
    def status_detail(self) -> str:
        """The PolicyStatus detail: why configure failed, why the node holds, ..."""
        return self._status_detail

    @property
    def status_state(self) -> int:
        """The PolicyStatus.STATE_* the node reports."""
        return self._status_state

    @property
    def control_settings(self) -> ControlSettings | None:
        return None if self._loop is None else self._loop.settings

    @property
    def query_settings(self) -> QuerySettings | None:
        return None if self._worker is None else self._worker.settings

    def observation_stamps(self) -> dict[str, int | None]:
        """Newest header stamp (ns) per subscribed topic; None: nothing received yet."""
        synchronizer = self._synchronizer
        return {} if synchronizer is None else synchronizer.newest_stamps()

    @property
    def camera_configs(self) -> dict:
        """{checkpoint camera: the robot CameraConfig feeding it}, once configured."""
        return dict(self._cameras)

    # --- parameters ---

    def _apply_parameters(self, values: dict, changed: dict) -> None:
        """Checks a change as a whole (the table checked each value) and caches the values
        the running threads read; raises ValueError to refuse it."""
        if not DEVICE_PATTERN.match(str(values['device'])):
            raise ValueError(f'device must be cpu, cuda or cuda:N, got {values["device"]!r}')
        parse_camera_remap(values['camera_remap'] or [])
        if values['diagnostics_latency_error_s'] < values['diagnostics_latency_warn_s'] or (
                values['diagnostics_missed_error'] < values['diagnostics_missed_warn']):
            raise ValueError('diagnostics_*_error thresholds must not be below their *_warn ones')
        control = self._control_settings(values)
        query = self._query_settings(values) if self.policy is not None else None
        with self._lock:
            self._values = values
            if self._loop is not None:
                self._loop.settings = control
            if self._worker is not None and query is not None:
                self._worker.settings = query

    @staticmethod
    def _control_settings(values: dict) -> ControlSettings:
        return ControlSettings(weighting=Weighting.parse(values['ensemble_weighting']),
                               ensemble_m=float(values['ensemble_m']),
                               observation_timeout_s=float(values['observation_timeout_s']))

    def _query_settings(self, values: dict) -> QuerySettings:
        chunked = Weighting.parse(values['ensemble_weighting']) is Weighting.CHUNKED
        auto = values['query_period_ticks'] == 0
        period_ticks = effective_query_period(values['query_period_ticks'], chunked, self.policy.chunk_size)
        # In lockstep inference costs no sim time: nothing to anticipate.
        return QuerySettings(period_ns=round(self.robot.control_period_s * NS_PER_S),
                             max_skew_ns=round(float(values['max_skew_s']) * NS_PER_S),
                             query_period_ticks=period_ticks,
                             anticipate_latency=auto and chunked and not values['lockstep'])

    # --- lifecycle ---

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self._configure()
        except Exception as error:  # rclpy swallows exceptions of transition callbacks
            message = str(error) if isinstance(error, (ValueError, OSError)) else f'{type(error).__name__}: {error}'
            self.get_logger().error(f'configure failed: {message}')
            self._release()
            self._set_status(PolicyStatus.STATE_ERROR, f'configure failed: {message}')
            return TransitionCallbackReturn.FAILURE
        self._set_status(PolicyStatus.STATE_INACTIVE, f'configured: {self.policy.model_id}')
        return super().on_configure(state)

    def _configure(self) -> None:
        values = self._values
        robot_path, checkpoint, device = values['robot_config'], values['checkpoint'], values['device']
        if not robot_path:
            raise ValueError('parameter robot_config is empty: give the robot config YAML '
                             '(act_common/config/robots/aloha_sim.yaml; `act policy` passes it)')
        if not checkpoint:
            raise ValueError('parameter checkpoint is empty: give a checkpoint folder written by act train')
        self.robot = load_robot_config(robot_path)
        self._lockstep = bool(values['lockstep'])
        if values['torch_threads']:
            import torch

            torch.set_num_threads(values['torch_threads'])
        self.policy = load_policy(checkpoint, device, values['precision'])
        self._cameras = match_checkpoint(self.policy, checkpoint, self.robot,
                                         parse_camera_remap(values['camera_remap'] or []))
        self._joint_topics = joint_state_topics(self.robot)
        warmup_s = self._warm_up()

        period_ns = round(self.robot.control_period_s * NS_PER_S)
        self._loop = ControlLoop(SafetyLimits.from_robot(self.robot), period_ns, self._control_settings(values))
        self._tick_clock = TickClock(period_ns)
        sources = [camera.topic for camera in self._cameras.values()] + list(self._joint_topics.values())
        self._synchronizer = ObservationSynchronizer(sources)

        before = self._entities()
        for camera in self._cameras.values():
            msg_type = CompressedImage if camera.compressed else Image
            self.create_subscription(msg_type, camera.topic, lambda msg, topic=camera.topic: self._store(topic, msg),
                                     SENSOR_QOS)
        for topic in self._joint_topics.values():
            self.create_subscription(JointState, topic, lambda msg, topic=topic: self._store(topic, msg),
                                     SENSOR_QOS)
        self._commands = RobotCommandPublisher(self, self.robot)
        self._chunk_pub = self.create_publisher(ActionChunk, POLICY_CHUNK_TOPIC, POLICY_CHUNK_QOS)
        self._trajectory_pub = self.create_publisher(JointTrajectory, POLICY_TRAJECTORY_TOPIC, POLICY_CHUNK_QOS)
        self._control_timer = self.create_timer(self.robot.control_period_s, self._on_control_tick, autostart=False)
        self._configured_entities = [entity for entity in self._entities() if entity not in before]

        self._worker = InferenceWorker(self._predict, self._synchronizer, self._on_chunk, self._on_problem,
                                       self._query_settings(values))
        self._worker.start()
        self.get_logger().info(
            f'loaded {self.policy.model_id} on {device} ({getattr(self.policy, "precision_detail", self.policy.precision)}) for robot {self.robot.name!r}: cameras '
            f'{ {name: camera.topic for name, camera in self._cameras.items()} }, chunk {self.policy.chunk_size}, '
            f'ensemble {self._loop.settings.weighting.value} m={self._loop.settings.ensemble_m}; first inference '
            f'(warm-up) took {warmup_s:.2f} s')

    def _warm_up(self) -> float:
        """One inference on blank frames at configure: the first forward pass allocates and
        picks kernels (several times slower than the next ones), which would otherwise
        delay the first chunk after activation."""
        images = {name: np.zeros((camera.height, camera.width, 3), dtype=np.uint8) for name, camera in self._cameras.items()}
        limits = SafetyLimits.from_robot(self.robot)
        qpos = (limits.lower + limits.upper) / 2  # (D,) mid-range: any finite state will do
        started = time.perf_counter()
        self.policy.predict_chunk(images=images, qpos=qpos)
        return time.perf_counter() - started

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._activation += 1
        started_ns = self.get_clock().now().nanoseconds
        self.activation_started_ns = started_ns
        self.stats.reset()
        self._loop.start(self._activation, started_ns)
        self._last_problem = ''
        self._last_tick_ns = self._last_tick_wall = None
        self._tick_clock.start(started_ns)
        with self._tick_lock:
            # Lockstep: the simulator waits at the activation tick for its command.
            self._deferred = (self._activation, self._tick_clock.serve(started_ns)) if self._lockstep else None
        self._control_timer.reset()
        self._worker.enable(self._activation, started_ns)
        self._active = True
        self._set_status(PolicyStatus.STATE_HOLDING, 'activated: waiting for observations and the first chunk')
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._control_timer.cancel()
        self._worker.disable()
        self._loop.stop()
        self._active = False
        with self._tick_lock:
            self._deferred = None
        self._set_status(PolicyStatus.STATE_INACTIVE, 'deactivated: the follower holds the last command')
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        self._set_status(PolicyStatus.STATE_UNCONFIGURED, 'cleaned up: model released')
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        self._set_status(PolicyStatus.STATE_UNCONFIGURED, 'shut down')
        return super().on_shutdown(state)

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        self._set_status(PolicyStatus.STATE_ERROR, 'error during a transition: model released')
        return super().on_error(state)

    def _release(self) -> None:
        """Stops the worker and destroys what configure created; frees the model."""
        self._active = False
        if self._worker is not None:
            self._worker.stop()
        for entity in self._configured_entities:
            self._destroy(entity)
        self._configured_entities = []
        device_is_cuda = str(self._values['device']).startswith('cuda')
        self.policy = None
        self._worker = self._loop = self._synchronizer = self._commands = self._control_timer = None
        self._chunk_pub = self._trajectory_pub = None
        if device_is_cuda:
            import torch

            torch.cuda.empty_cache()

    def _entities(self) -> list:
        return list(self.publishers) + list(self.subscriptions) + list(self.timers)

    def _destroy(self, entity) -> None:
        if entity in list(self.publishers):
            self.destroy_publisher(entity)
        elif entity in list(self.subscriptions):
            self.destroy_subscription(entity)
        elif entity in list(self.timers):
            self.destroy_timer(entity)

    # --- callbacks: store and return ---

    def _store(self, topic: str, msg: Any) -> None:
        synchronizer = self._synchronizer
        if synchronizer is not None:
            synchronizer.store(topic, stamp_to_ns(msg.header.stamp), msg)

    # --- inference worker thread ---

    def _predict(self, observation: SynchronizedObservation) -> np.ndarray:
        joint_states = {arm: observation.messages[topic] for arm, topic in self._joint_topics.items()}
        qpos = measured_state(self.robot, joint_states)  # (D,)
        images = policy_images(self._cameras, observation.messages)
        return self.policy.predict_chunk(images=images, qpos=qpos)  # (S, D)

    def _on_chunk(self, chunk: TimedChunk) -> None:
        loop = self._loop
        stored, reason, stale = (None, 'the model was released', True) if loop is None else loop.admit(chunk)
        if stored is None and stale:  # of another activation: expected around transitions
            self.stats.record_stale_chunk()
            self.get_logger().info(f'dropped a stale chunk: {reason}', throttle_duration_sec=1.0)
            return
        if stored is None:  # wrong width, or observed before an observation gap
            self._on_problem(reason)
            return
        self.stats.record_chunk(stored.inference_latency_s)
        self._publish_chunk(stored)
        if self._lockstep:
            with self._tick_lock:
                deferred = self._deferred
                if deferred is not None and self._active and self._is_chunk_of(stored, *deferred):
                    self._deferred = None
                    self._command_tick(deferred[1], self.get_clock().now().nanoseconds, time.perf_counter())

    def _on_problem(self, problem: str) -> None:
        self._last_problem = problem
        self.get_logger().warning(problem, throttle_duration_sec=2.0)

    def _publish_chunk(self, chunk: TimedChunk) -> None:
        sec, nanosec = ns_to_sec_nanosec(chunk.observation_stamp_ns)
        names = list(self.robot.vector_names)
        period_ns = round(self.robot.control_period_s * NS_PER_S)
        msg = ActionChunk(joint_names=names, chunk_size=chunk.size, positions=chunk.actions.reshape(-1).tolist(),
                          model_id=self.policy.model_id, inference_latency_s=chunk.inference_latency_s)
        msg.header.stamp.sec, msg.header.stamp.nanosec = sec, nanosec
        msg.step_period.sec, msg.step_period.nanosec = ns_to_sec_nanosec(period_ns)
        self._chunk_pub.publish(msg)
        trajectory = JointTrajectory(joint_names=names)
        trajectory.header.stamp.sec, trajectory.header.stamp.nanosec = sec, nanosec
        for step, row in enumerate(chunk.actions):
            point = JointTrajectoryPoint(positions=row.tolist())
            point.time_from_start.sec, point.time_from_start.nanosec = ns_to_sec_nanosec(step * period_ns)
            trajectory.points.append(point)
        self._trajectory_pub.publish(trajectory)

    # --- control timer ---

    def _on_control_tick(self) -> None:
        started = time.perf_counter()
        loop, synchronizer, commands = self._loop, self._synchronizer, self._commands
        if loop is None or synchronizer is None or commands is None or not self._active:
            return  # a tick that raced a transition
        now_ns = self.get_clock().now().nanoseconds
        with self._tick_lock:
            if self._last_tick_ns is not None and now_ns < self._last_tick_ns:
                # The clock went back (a restarted sim's /clock starts again): what was observed
                # and planned belongs to the old timeline (a deferred lockstep tick included);
                # start over from the measured position. The new timeline is a new activation,
                # so a chunk still in flight from the old one is dropped as stale (its stamps
                # are on the old clock) and the worker queries the new observations.
                self._activation += 1
                self.activation_started_ns = now_ns
                self._tick_clock.start(now_ns)
                synchronizer.clear()
                loop.start(self._activation, now_ns)
                self._worker.enable(self._activation, now_ns)
                self._deferred = None
            self._last_tick_ns, self._last_tick_wall = now_ns, time.monotonic()
            timing = self._tick_clock.serve(now_ns)
            if self._lockstep and self._awaits_chunk(loop, timing):
                self._deferred = (self._activation, timing)  # commanded by _on_chunk
                return
            self._deferred = None
            self._command_tick(timing, now_ns, started)

    def _awaits_chunk(self, loop: ControlLoop, timing: TickTiming) -> bool:
        """Lockstep: a query is due at this tick and its chunk is not in yet."""
        worker = self._worker
        if worker is None or not lockstep_query_due(timing.tick, worker.settings.query_period_ticks):
            return False
        newest = loop.buffer.newest()
        return newest is None or not self._is_chunk_of(newest, self._activation, timing)

    def _is_chunk_of(self, chunk: TimedChunk, activation: int, timing: TickTiming) -> bool:
        """Whether chunk was computed from the observation of this tick of this activation."""
        return (chunk.activation == activation
                and abs(chunk.observation_stamp_ns - timing.tick_ns) <= self._tick_clock.period_ns // 2)

    def _command_tick(self, timing: TickTiming, now_ns: int, started: float) -> None:
        """Decides and publishes the command of one tick (the control timer, or in lockstep
        the inference thread when the tick's chunk arrives)."""
        loop, synchronizer, commands = self._loop, self._synchronizer, self._commands
        if loop is None or synchronizer is None or commands is None:
            return
        state, problem = self._measured_state(synchronizer)
        decision = loop.decide(timing.tick_ns, state, problem, synchronizer.newest_stamps())
        if decision.command is not None:
            commands.send(decision.command, stamp=Time(nanoseconds=now_ns).to_msg())
            for chunk in decision.first_used:
                self.stats.record_first_use((now_ns - chunk.observation_stamp_ns) * 1e-9)
        self.stats.record_tick(timing, time.perf_counter() - started, decision.held, decision.ensemble_depth,
                               decision.reason)
        self._last_decision = decision
        if decision.held:
            reason = decision.reason + (f' (last inference problem: {self._last_problem})' if self._last_problem else '')
            self._set_status(PolicyStatus.STATE_HOLDING, f'holding: {reason}')
        else:
            self._set_status(PolicyStatus.STATE_ACTIVE, 'commanding')

    def _measured_state(self, synchronizer: ObservationSynchronizer) -> tuple[np.ndarray | None, str]:
        joint_states = {}
        for arm, topic in self._joint_topics.items():
            newest = synchronizer.newest(topic)
            joint_states[arm] = None if newest is None else newest.message
        try:
            return measured_state(self.robot, joint_states), ''
        except ObservationError as error:
            return None, str(error)

    # --- diagnostics ---

    def diagnostic_statuses(self) -> list[diagnostics.Status]:
        """The /diagnostics statuses now (thresholds: the diagnostics_* parameters)."""
        values, stats = self._values, self.stats
        error = self._status_state == PolicyStatus.STATE_ERROR
        statuses = [diagnostics.Status('policy_node: state', diagnostics.ERROR if error else diagnostics.OK,
                                       self._status_detail, {'model': self.policy.model_id if self.policy else ''})]
        now_s, chunks = time.monotonic(), stats.chunks_computed
        then_s, then_chunks = self._rate_sample
        self._rate_sample = (now_s, chunks)
        rate_hz = (chunks - then_chunks) / (now_s - then_s) if now_s > then_s and chunks >= then_chunks else 0.0
        statuses.append(diagnostics.inference_status(
            'policy_node: inference', self._active, chunks, rate_hz, stats.inference_latency_s.last,
            stats.inference_latency_s.mean,
            diagnostics.Band(values['diagnostics_latency_warn_s'], values['diagnostics_latency_error_s'])))
        synchronizer = self._synchronizer
        if synchronizer is not None:
            now_ns = self.get_clock().now().nanoseconds
            for topic, stamp in synchronizer.newest_stamps().items():
                age_s = None if stamp is None else (now_ns - stamp) * 1e-9
                statuses.append(diagnostics.age_status(f'policy_node: observation {topic}', topic, age_s,
                                                       values['diagnostics_age_warn_s'], values['observation_timeout_s']))
        decision = self._last_decision
        holding = decision.reason if (self._active and decision is not None and decision.held) else ''
        statuses.append(diagnostics.control_status(
            'policy_node: control', self._active, stats.ticks, stats.deadline_misses, stats.held_ticks, holding,
            diagnostics.Band(values['diagnostics_missed_warn'], values['diagnostics_missed_error'])))
        statuses.append(diagnostics.count_status(
            'policy_node: stale chunks', 'chunks dropped as stale since the activation', stats.stale_chunks_dropped,
            diagnostics.Band(values['diagnostics_stale_chunks_warn'])))
        return statuses

    # --- status ---

    def _set_status(self, state: int, detail: str) -> None:
        changed = state != self._status_state
        self._status_state, self._status_detail = state, detail
        if changed:
            self.publish_status()

    def publish_status(self) -> None:
        """PolicyStatus now (also called by the status timer)."""
        msg = PolicyStatus(state=self._status_state, detail=self._status_detail)
        stalled_s = time.monotonic() - self._last_tick_wall if self._active and self._last_tick_wall else 0.0
        if stalled_s > CLOCK_STALL_S:  # no tick, so no command either: the follower holds the last one
            msg.state = PolicyStatus.STATE_HOLDING
            msg.detail = (f'holding: stale: no control tick for {stalled_s:.1f} s (the clock stopped; under '
                          'use_sim_time: is the sim running?)')
        msg.header.stamp = self.get_clock().now().to_msg()
        policy, loop = self.policy, self._loop
        if policy is not None:
            msg.model_id = policy.model_id
        stats = self.stats
        msg.inference_latency_s = _finite(stats.inference_latency_s.last)
        msg.inference_latency_mean_s = _finite(stats.inference_latency_s.mean)
        newest = loop.buffer.newest() if loop is not None else None
        if newest is not None:
            msg.chunk_age_s = (self.get_clock().now().nanoseconds - newest.observation_stamp_ns) * 1e-9
        decision = self._last_decision
        msg.ensemble_depth = decision.ensemble_depth if decision is not None else 0
        msg.ticks, msg.deadline_misses, msg.held_ticks = stats.ticks, stats.deadline_misses, stats.held_ticks
        msg.chunks_computed = stats.chunks_computed
        try:
            self._status_pub.publish(msg)
        except Exception:  # the node is being destroyed
            pass

    def destroy_node(self) -> None:
        self._release()
        super().destroy_node()


def _finite(value: float) -> float:
    return value if math.isfinite(value) else 0.0


def main(args: list[str] | None = None) -> None:
    from act_common.node_main import spin_node

    # Callbacks only store and the control tick takes about a millisecond, so one executor
    # thread serves them all; inference has its own thread.
    spin_node(PolicyNode, args)


if __name__ == '__main__':
    main()
