"""RecorderNode (`recorder_node`): one rosbag2 bag per demonstration episode.

Records, from the robot config: the chosen cameras (sensor_msgs/Image or
CompressedImage), every follower's and (record_leader) leader's sensor_msgs/JointState,
the commanded action (robot action_topic), and in simulation /clock and /sim/task_reward.
Messages are stored as the CDR bytes received (raw subscriptions: nothing is deserialized
or re-serialized), stamped with the recorder's clock at reception like `ros2 bag record`
(sim time with use_sim_time); the converter uses the header stamps inside the messages.

Services (act_msgs):
  ~/start_episode (StartEpisode): opens <output_dir>/episode_<index>/ (index -1: next free).
  ~/stop_episode (StopEpisode): success flag; discard deletes the bag. Returns once the
    bag is closed, with the number of messages stored.
The same as Python methods (`start_episode`, `stop_episode`) for in-process drivers
(`act record --sim`).

/diagnostics (diagnostic_msgs/DiagnosticArray, 1 Hz, wall clock): 'recorder: queue'
(backlog against queue_limit_mb), 'recorder: writing' (bytes written in the episode),
'recorder: drops' (messages dropped in the episode: ERROR above diagnostics_drops_error).

Callbacks only enqueue (act_teleop.episode_recording); a writer thread writes the bag.
The node spins on a SingleThreadedExecutor. ~/stop_episode is a coroutine: the bag closes
on a thread of its own (the writer drains its backlog first), and the executor keeps taking
messages meanwhile. Measured with `python bench/bench_soak.py --minutes 0
--recording-minutes 1.5` (1 camera 480x640 rgb8 at 30 Hz, 5 joint streams at 50 Hz, 2-core
EPYC): on rclpy 9.1's MultiThreadedExecutor the recorder took 94 % of a core and lost 27 %
of every joint stream in DDS (the frame-number gaps: it took each subscription about 37
times a second), and its RSS grew after the cores were contended; on the
SingleThreadedExecutor it takes 13 % of a core and loses nothing.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from act_msgs.srv import StartEpisode, StopEpisode
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.task import Future

from act_common import diagnostics
from act_common.episode_format import EpisodeRecord, episode_dir_name, existing_episode_indices, next_episode_index
from act_common.errors import ActError
from act_common.interfaces import RECORDER_NODE, RECORDER_START, RECORDER_STOP, TASK_REWARD_TOPIC
from act_common.parameters import ParameterSpec, ParameterTable
from act_common.qos import keep_last
from act_common.robot_config import RobotConfig, load_robot_config
from act_teleop.bag_writer import STORAGE_IDS, BagWriteError, TopicSpec
from act_teleop.camera_compression import (CAMERA_COMPRESSIONS, COMPRESSED_TYPE, IMAGE_TYPE, ImageCompressor,
                                           compressed_topic)
from act_teleop.episode_recording import EpisodeWriter
from act_teleop.message_types import message_class, split_type


# Deeper queues than the live profiles: the recorder must not lose a burst while the
# executor is busy. Same reliability as the publishers (a reliable reader never matches a
# best-effort writer).
SENSOR_RECORD_QOS = keep_last(100, ReliabilityPolicy.BEST_EFFORT, DurabilityPolicy.VOLATILE)
RELIABLE_RECORD_QOS = keep_last(100, ReliabilityPolicy.RELIABLE, DurabilityPolicy.VOLATILE)


# The node's parameters (act_common.parameters): declared from here, checked against
# config/recorder.yaml, listed in the README.
PARAMETERS = ParameterTable('recorder', [
    ParameterSpec('robot_config', 'string', '', 'Path of the robot config YAML (act_common/config/robots/*.yaml).',
                  'start'),
    ParameterSpec('output_dir', 'string', 'episodes', 'Folder that receives one episode_<index> bag folder per episode.'),
    ParameterSpec('storage_id', 'string', 'mcap', 'rosbag2 storage.', choices=tuple(STORAGE_IDS)),
    ParameterSpec('cameras', 'string_array', None, 'Cameras to record (robot config names); unset = all.', 'start'),
    ParameterSpec('record_leader', 'bool', True, 'Also record the leader arms\' joint states.', 'start'),
    ParameterSpec('extra_topics', 'string_array', [''],
                  'More topics to record, each "topic=package/msg/Type" (reliable QoS), e.g. '
                  '"/act/policy/action_chunk=act_msgs/msg/ActionChunk"; [""] = none.', 'start'),
    ParameterSpec('camera_compression', 'string', 'none',
                  'Store raw cameras compressed on <topic>/compressed (sensor_msgs/CompressedImage, as '
                  'image_transport\'s compressed plugin); png is lossless.', 'start',
                  choices=tuple(CAMERA_COMPRESSIONS)),
    ParameterSpec('jpeg_quality', 'int', 90, 'JPEG quality with camera_compression jpeg.', 'start', range=(1, 100)),
    ParameterSpec('queue_limit_mb', 'int', 1024,
                  'Largest backlog between reception and disk, MiB; beyond it messages are dropped and counted.',
                  range=(16, 65536)),
    ParameterSpec('diagnostics_queue_warn', 'double', 0.5,
                  '/diagnostics: a backlog above this fraction of queue_limit_mb is WARN (ERROR above 0.9).',
                  range=(0.0, 1.0)),
    ParameterSpec('diagnostics_drops_error', 'int', 0,
                  '/diagnostics: more messages dropped in an episode than this is ERROR.', range=(0, 1000000000)),
])


@dataclass(frozen=True)
class RecordedTopic:
    spec: TopicSpec  # as stored in the bag
    qos: QoSProfile
    # What is subscribed to, when it differs from what is stored (a raw camera stored compressed).
    source: TopicSpec | None = None

    @property
    def subscribed(self) -> TopicSpec:
        return self.source or self.spec


def parse_extra_topics(entries: list[str]) -> list[TopicSpec]:
    """'topic=package/msg/Type' entries (empty ones ignored) as topic specs."""
    specs = []
    for entry in entries:
        if not entry:
            continue
        topic, separator, type_name = entry.partition('=')
        if not separator or not topic.startswith('/'):
            raise ValueError(f'recorder: extra_topics entry {entry!r} is not "/topic=package/msg/Type"')
        split_type(type_name)
        specs.append(TopicSpec(topic, type_name))
    return specs


def recorded_topics(robot: RobotConfig, cameras: list[str], record_leader: bool,
                    extra: list[TopicSpec] = (), camera_compression: str = 'none') -> list[RecordedTopic]:
    """The topics an episode bag holds for this robot, in a stable order. camera_compression
    'jpeg'/'png': raw cameras are stored as CompressedImage on `<topic>/compressed`."""
    if camera_compression not in CAMERA_COMPRESSIONS:
        raise ValueError(f'recorder: camera_compression must be one of {list(CAMERA_COMPRESSIONS)}, got {camera_compression!r}')
    topics = []
    for name in cameras:
        camera = robot.camera(name)
        if camera.compressed:
            topics.append(RecordedTopic(TopicSpec(camera.topic, COMPRESSED_TYPE), SENSOR_RECORD_QOS))
        elif camera_compression != 'none':
            topics.append(RecordedTopic(TopicSpec(compressed_topic(camera.topic), COMPRESSED_TYPE), SENSOR_RECORD_QOS,
                                        source=TopicSpec(camera.topic, IMAGE_TYPE)))
        else:
            topics.append(RecordedTopic(TopicSpec(camera.topic, IMAGE_TYPE), SENSOR_RECORD_QOS))
    for arm in robot.arms:
        topics.append(RecordedTopic(TopicSpec(arm.follower.joint_states_topic, 'sensor_msgs/msg/JointState'), SENSOR_RECORD_QOS))
        if record_leader and arm.leader is not None:
            topics.append(RecordedTopic(TopicSpec(arm.leader.joint_states_topic, 'sensor_msgs/msg/JointState'), SENSOR_RECORD_QOS))
    topics.append(RecordedTopic(TopicSpec(robot.action_topic, 'sensor_msgs/msg/JointState'), RELIABLE_RECORD_QOS))
    if robot.simulated:
        topics.append(RecordedTopic(TopicSpec(robot.clock_topic, 'rosgraph_msgs/msg/Clock'), SENSOR_RECORD_QOS))
        topics.append(RecordedTopic(TopicSpec(TASK_REWARD_TOPIC, 'act_msgs/msg/TaskReward'), RELIABLE_RECORD_QOS))
    topics.extend(RecordedTopic(spec, RELIABLE_RECORD_QOS) for spec in extra)
    names = [topic.spec.name for topic in topics]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f'{robot.source_path}: topics {duplicates} are configured twice; each recorded topic must be unique')
    return topics


class EpisodeError(ActError, RuntimeError):
    """An episode cannot be started or stopped; `result` is the service result code."""

    def __init__(self, result: int, message: str):
        super().__init__(message)
        self.result = result


class RecorderNode(Node):
    def __init__(self, **node_kwargs):
        super().__init__(RECORDER_NODE, **node_kwargs)
        self._values = PARAMETERS.declare(self, self._on_set_parameters)
        path = self._values['robot_config']
        if not path:
            raise ValueError('recorder: parameter robot_config is empty: give the path of a robot config YAML')
        self.robot = load_robot_config(path)
        cameras = list(self._values['cameras'] or self.robot.camera_names)
        unknown = [name for name in cameras if name not in self.robot.camera_names]
        if unknown:
            raise ValueError(f'recorder: parameter cameras: {unknown} are not cameras of robot {self.robot.name!r} '
                             f'({self.robot.source_path}); it has {list(self.robot.camera_names)}')
        self.cameras = cameras
        extra = parse_extra_topics(self._values['extra_topics'])
        compression = self._values['camera_compression']
        self.topics = recorded_topics(self.robot, cameras, self._values['record_leader'], extra, compression)
        self._transforms = {}
        if compression != 'none':
            compressor = ImageCompressor(compression, self._values['jpeg_quality'])
            self._transforms = {topic.spec.name: compressor for topic in self.topics if topic.source is not None}
        self._output_dir = Path(self._values['output_dir'])
        self._storage_id = self._values['storage_id']
        self._queue_limit_bytes = self._values['queue_limit_mb'] * 1024 * 1024
        self._episode_lock = threading.Lock()
        self._writer: EpisodeWriter | None = None
        self._diagnostics = diagnostics.DiagnosticsTimer(self, self.diagnostic_statuses)

        for topic in self.topics:
            self.create_subscription(message_class(topic.subscribed.type_name), topic.subscribed.name,
                                     lambda data, name=topic.spec.name: self._on_message(name, data),
                                     topic.qos, raw=True)
        # One at a time: a start waits until a pending stop has closed its bag.
        services = MutuallyExclusiveCallbackGroup()
        self.create_service(StartEpisode, RECORDER_START, self._on_start, callback_group=services)
        self.create_service(StopEpisode, RECORDER_STOP, self._on_stop, callback_group=services)
        self.get_logger().info(f'recording {len(self.topics)} topics of {self.robot.name!r} into {self._output_dir} '
                               f'({self._storage_id}) on request: {[t.spec.name for t in self.topics]}')

    # --- parameters ---

    def _on_set_parameters(self, values: dict, changed: dict) -> None:
        """Applies run-time changes (the table checked each value); raises ValueError to refuse."""
        if not str(values['output_dir']):
            raise ValueError('recorder: output_dir must not be empty')
        self._values = values
        if hasattr(self, '_writer'):  # after construction: takes effect at the next episode
            self._output_dir = Path(values['output_dir'])
            self._storage_id = values['storage_id']
            self._queue_limit_bytes = values['queue_limit_mb'] * 1024 * 1024

    def diagnostic_statuses(self) -> list[diagnostics.Status]:
        """The /diagnostics statuses now: queue depth, bytes written, drops (current episode)."""
        writer, values = self._writer, self._values
        recording = writer is not None
        queued = writer.queued_bytes if recording else 0
        limit = writer.queue_limit_bytes if recording else self._queue_limit_bytes
        episode = f'episode {writer.record.episode_index}' if recording else 'not recording'
        written = writer.bytes_written if recording else 0
        return [
            diagnostics.queue_status('recorder: queue', queued, limit,
                                     diagnostics.Band(values['diagnostics_queue_warn'], 0.9), recording),
            diagnostics.Status('recorder: writing', diagnostics.OK,
                               f'{episode}: {written / 2**20:.1f} MiB written' if recording else episode,
                               {'bytes_written': str(written), 'episode': episode}),
            diagnostics.count_status('recorder: drops', f'messages dropped ({episode})',
                                     writer.dropped if recording else 0,
                                     diagnostics.Band(0, values['diagnostics_drops_error'])),
        ]

    # --- subscription callbacks: enqueue only ---

    def _on_message(self, topic: str, data: bytes) -> None:
        writer = self._writer
        if writer is not None:
            writer.enqueue(topic, self.get_clock().now().nanoseconds, data)

    # --- episodes ---

    @property
    def recording(self) -> bool:
        return self._writer is not None

    def start_episode(self, task: str, episode_index: int = -1, seed: int = -1,
                      render_settings: dict | None = None) -> EpisodeRecord:
        """Opens a new bag; raises EpisodeError with a StartEpisode result code.

        render_settings: how a simulator renders the cameras (act_sim.rendering
        RenderSettings.to_dict()), stored with the episode; None for real cameras."""
        codes = StartEpisode.Response
        with self._episode_lock:
            if self._writer is not None:
                raise EpisodeError(codes.RESULT_ALREADY_RECORDING,
                                   f'already recording episode {self._writer.record.episode_index}; stop it first')
            if not task:
                raise EpisodeError(codes.RESULT_INVALID_REQUEST, 'task_name is empty')
            if episode_index < -1:
                raise EpisodeError(codes.RESULT_INVALID_REQUEST, f'episode_index must be >= 0 or -1, got {episode_index}')
            if episode_index == -1:
                episode_index = next_episode_index(self._output_dir)
            elif episode_index in existing_episode_indices(self._output_dir):
                raise EpisodeError(codes.RESULT_INVALID_REQUEST,
                                   f'episode {episode_index} exists already in {self._output_dir}')
            record = EpisodeRecord(
                task=task, episode_index=episode_index, seed=seed, robot=self.robot.name,
                robot_config=self.robot.source_path, simulated=self.robot.simulated, storage_id=self._storage_id,
                bag_path=str(self._output_dir / episode_dir_name(episode_index)),
                start_time_ns=self.get_clock().now().nanoseconds, start_wall_time=time.time(), cameras=list(self.cameras),
                camera_sizes={name: [self.robot.camera(name).height, self.robot.camera(name).width]
                              for name in self.cameras},
                render_settings=None if render_settings is None else dict(render_settings))
            try:
                self._output_dir.mkdir(parents=True, exist_ok=True)
                self._writer = EpisodeWriter(record, [topic.spec for topic in self.topics], self._queue_limit_bytes,
                                             transforms=self._transforms)
            except (BagWriteError, OSError) as error:
                raise EpisodeError(codes.RESULT_STORAGE_ERROR, str(error)) from error
        self.get_logger().info(f'recording episode {episode_index} ({task}) into {record.bag_path}')
        return record

    def stop_episode(self, success: bool, discard: bool = False) -> EpisodeRecord:
        """Closes the bag (deleted when `discard`); raises EpisodeError with a StopEpisode code."""
        codes = StopEpisode.Response
        with self._episode_lock:
            writer, self._writer = self._writer, None
            if writer is None:
                raise EpisodeError(codes.RESULT_NOT_RECORDING, 'no episode is being recorded')
            try:
                record = writer.finish(self.get_clock().now().nanoseconds, success=success, keep=not discard)
            except RuntimeError as error:
                raise EpisodeError(codes.RESULT_STORAGE_ERROR, str(error)) from error
        verdict = 'discarded' if discard else f'kept ({"success" if success else "failure"})'
        dropped = f', {record.dropped_count} DROPPED' if record.dropped_count else ''
        log = self.get_logger().warning if record.dropped_count else self.get_logger().info
        log(f'episode {record.episode_index} {verdict}: {record.message_count} messages in {record.duration_s:.2f} s{dropped}')
        return record

    def _on_start(self, request: StartEpisode.Request, response: StartEpisode.Response) -> StartEpisode.Response:
        try:
            record = self.start_episode(request.task_name, request.episode_index, request.seed)
        except EpisodeError as error:
            response.result, response.message = error.result, str(error)
            return response
        response.result, response.message = response.RESULT_OK, f'recording into {record.bag_path}'
        response.bag_path, response.episode_index = record.bag_path, record.episode_index
        return response

    async def _on_stop(self, request: StopEpisode.Request, response: StopEpisode.Response) -> StopEpisode.Response:
        # Closing the bag waits for the writer to drain its backlog (seconds after a burst):
        # it runs on a thread, so that the executor keeps taking messages meanwhile.
        closed = Future()

        def close() -> None:
            try:
                closed.set_result(self.stop_episode(request.success, request.discard))
            except Exception as error:  # EpisodeError, or a bug: reported to the caller below
                closed.set_exception(error)
            executor = self.executor
            if executor is not None:
                executor.wake()  # resume this coroutine now, not at the next message

        threading.Thread(target=close, name='recorder-stop', daemon=True).start()
        try:
            record = await closed
        except EpisodeError as error:
            response.result, response.message = error.result, str(error)
            return response
        response.result = response.RESULT_OK
        response.message = (f'discarded {record.bag_path}' if request.discard else f'kept {record.bag_path}') + (
            f'; {record.dropped_count} messages dropped' if record.dropped_count else '')
        response.bag_path = '' if request.discard else record.bag_path
        response.message_count, response.duration_s = record.message_count, record.duration_s
        return response

    def destroy_node(self) -> None:
        if self._writer is not None:  # keep what was recorded, marked unsuccessful
            try:
                self.stop_episode(success=False)
            except EpisodeError as error:
                self.get_logger().error(f'could not close the episode on shutdown: {error}')
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    from act_common.node_main import spin_node

    spin_node(RecorderNode, args)
