"""Episode bags -> ACT HDF5 training episodes (and optionally a LeRobot dataset).

For each bag: read it (conversion.bag_reader), build the robot vectors from the follower
joint states (act_common.joint_vectors, the robot config's joint order and gripper
calibration), resample every stream onto the control grid (conversion.resampling), check
the stream gaps, and write `episode_<index>.hdf5` (conversion.hdf5_writer, layout in act_training.hdf5_format). One bad bag
(corrupt, truncated, missing topic, other joint names, gaps beyond max_gap_s) is reported
with the reason and the others still convert; an existing output file is only replaced
with `overwrite`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from act_common.episode_format import (EpisodeFacts, EpisodeFormatError, episode_file_name, episode_index_of,
                                      is_bag_folder, read_episode_facts)
from act_common.image_encoding import COMPRESSED_SUFFIX
from act_common.joint_vectors import JointStateError, follower_vector, leader_vector
from act_common.robot_config import ArmConfig, RobotConfig
from act_training.conversion.bag_reader import (ConversionError, EpisodeBag, ImageFetcher, WindowDrops,
                                                keep_episode_window, read_episode_bag)
from act_training.conversion.hdf5_writer import EpisodeFileWriter
from act_training.conversion.resampling import (StreamTiming, control_grid, frame_ages_s, interpolate,
                                                nearest_within, newest_not_after, stream_timing)
from act_training.hdf5_format import ACTION_SOURCES, IMAGE_STORAGE, TIME_SOURCES



@dataclass(frozen=True)
class ConversionConfig:
    """What to convert and how. `bags`: episode bag folders (see find_episode_bags)."""

    bags: tuple[Path, ...]
    output_dir: Path
    robot: RobotConfig
    # Cameras to export; None = those recorded (episode.json), else every robot camera in the bag.
    cameras: tuple[str, ...] | None = None
    # 'commanded': the action topic (what teleop/policy sent); 'leader': the leader joint
    # states mapped like teleop does (sign, offset, normalized leader gripper), unfiltered.
    action_source: str = 'commanded'
    # 'header': message header stamps; 'receive': the bag's reception (log) times.
    time_source: str = 'header'
    # An episode with a longer pause in any exported stream is rejected, seconds.
    max_gap_s: float = 0.2
    overwrite: bool = False
    # Task name for bags without an episode.json / custom_data task.
    default_task: str = 'unknown'
    # Also export a LeRobot dataset here (conversion.lerobot_export); None = no export.
    lerobot_dir: Path | None = None
    # Camera frames in the HDF5: 'raw', 'gzip' / 'lzf' (lossless HDF5 filters) or 'jpeg'
    # (the ALOHA 2 JPEG-row layout, lossy at jpeg_quality); sizes and speeds: README.
    image_storage: str = 'raw'
    jpeg_quality: int = 90

    def __post_init__(self):
        if self.action_source not in ACTION_SOURCES:
            raise ValueError(f'action_source must be one of {ACTION_SOURCES}, got {self.action_source!r}')
        if self.time_source not in TIME_SOURCES:
            raise ValueError(f'time_source must be one of {TIME_SOURCES}, got {self.time_source!r}')
        if self.image_storage not in IMAGE_STORAGE:
            raise ValueError(f'image_storage must be one of {IMAGE_STORAGE}, got {self.image_storage!r}')
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f'jpeg_quality must be 1..100, got {self.jpeg_quality}')
        if not self.max_gap_s > 0:
            raise ValueError(f'max_gap_s must be > 0, got {self.max_gap_s}')
        if self.cameras is not None:
            unknown = [name for name in self.cameras if name not in self.robot.camera_names]
            if unknown:
                raise ValueError(f'cameras {unknown} are not cameras of robot {self.robot.name!r}; '
                                 f'it has {list(self.robot.camera_names)}')
        if self.action_source == 'leader' and any(arm.leader is None for arm in self.robot.arms):
            raise ValueError(f'action_source leader needs a leader on every arm of robot {self.robot.name!r}')


@dataclass
class EpisodeResult:
    bag: Path
    status: str  # 'converted', 'rejected' (gaps), 'failed' (unreadable, missing data), 'skipped' (exists)
    reason: str = ''
    output: Path | None = None
    episode_index: int = -1
    frames: int = 0
    task: str = ''
    success: bool = False
    timings: list[StreamTiming] = field(default_factory=list)
    late_frames: dict[str, int] = field(default_factory=dict)
    missing_actions: int = 0
    # Per topic: messages dropped as not belonging to the episode (stamp 0, outside start..stop).
    dropped: dict[str, WindowDrops] = field(default_factory=dict)
    # What survived when the bag was cut by a crash (bag_recovery); '' for a whole bag.
    truncated: str = ''

    def summary(self) -> str:
        head = f'{self.bag.name}: {self.status}' + (' TRUNCATED' if self.truncated else '')
        if self.status == 'converted':
            late = {k: v for k, v in self.late_frames.items() if v}
            return (f'{head} -> {self.output.name} ({self.frames} steps'
                    + (f', late frames {late}' if late else '') + (f', {self.missing_actions} ticks without a fresh command' if self.missing_actions else '')
                    + (f', dropped outside the episode: {self.dropped_summary()}' if self.dropped else '')
                    + ')' + (f'; {self.truncated}' if self.truncated else ''))
        return f'{head}: {self.reason}' + (f' (dropped outside the episode: {self.dropped_summary()})' if self.dropped else '')

    def dropped_summary(self) -> str:
        return '; '.join(f'{topic} {drops.summary()}' for topic, drops in self.dropped.items())


@dataclass
class ConversionReport:
    results: list[EpisodeResult]

    def by_status(self, status: str) -> list[EpisodeResult]:
        return [result for result in self.results if result.status == status]

    @property
    def converted(self) -> list[EpisodeResult]:
        return self.by_status('converted')

    @property
    def ok(self) -> bool:
        return all(result.status == 'converted' for result in self.results)


def find_episode_bags(inputs: Sequence[Path]) -> list[Path]:
    """Bag folders among `inputs`: each input is a bag (has metadata.yaml or a storage
    file) or a folder of bags. Sorted by episode index where the names have one."""
    bags = []
    for item in map(Path, inputs):
        if not item.exists():
            raise FileNotFoundError(f'{item} does not exist')
        if is_bag_folder(item):
            bags.append(item)
        elif item.is_dir():
            bags.extend(child for child in sorted(item.iterdir()) if is_bag_folder(child))

    def order(path: Path) -> tuple[int, str]:
        index = episode_index_of(path.name)
        return (index if index is not None else 1 << 60), str(path)
    return sorted(bags, key=order)


def convert_episodes(config: ConversionConfig,
                     on_result: Callable[[EpisodeResult], None] | None = None) -> ConversionReport:
    """Converts every bag of config.bags; on_result(result) after each (progress)."""
    config.output_dir.mkdir(parents=True, exist_ok=True)
    results, taken = [], set()
    for position, bag in enumerate(config.bags):
        try:
            result = _convert_one(config, Path(bag), position, taken)
        except ConversionError as error:
            result = EpisodeResult(Path(bag), 'failed', str(error))
        results.append(result)
        if on_result is not None:
            on_result(result)
        if result.status == 'converted':
            taken.add(result.episode_index)
    report = ConversionReport(results)
    if config.lerobot_dir is not None:
        from act_training.conversion.lerobot_export import export_lerobot_dataset

        export_lerobot_dataset([Path(r.output) for r in report.converted], config.lerobot_dir, config.robot,
                               overwrite=config.overwrite)
    return report


def _episode_facts(bag: Path, episode: EpisodeBag | None, position: int, default_task: str) -> EpisodeFacts:
    """task, index, seed, success, cameras of an episode (act_common.episode_format)."""
    try:
        return read_episode_facts(bag, episode.custom_data if episode is not None else None, default_task, position)
    except EpisodeFormatError as error:
        raise ConversionError(str(error)) from error


def _convert_one(config: ConversionConfig, bag: Path, position: int, taken: set[int]) -> EpisodeResult:
    robot = config.robot
    facts = _episode_facts(bag, None, position, config.default_task)
    output = config.output_dir / episode_file_name(int(facts.episode_index))
    if output.exists() and not config.overwrite:
        return EpisodeResult(bag, 'skipped', f'{output} exists; pass --overwrite to replace it',
                             episode_index=int(facts.episode_index))
    wanted_cameras = list(config.cameras) if config.cameras is not None else None
    camera_topics = {camera.name: camera.topic for camera in robot.cameras}
    # A raw camera may have been stored compressed on <topic>/compressed (image_transport's
    # naming; `act record --camera-compression`): read either.
    topics = [arm.follower.joint_states_topic for arm in robot.arms] + list(camera_topics.values())
    topics += [topic + COMPRESSED_SUFFIX for topic in camera_topics.values()]
    topics += [robot.action_topic] if config.action_source == 'commanded' else [arm.leader.joint_states_topic for arm in robot.arms]
    episode = read_episode_bag(bag, topics, config.time_source)
    camera_topics = {name: topic if topic in episode.topics or topic + COMPRESSED_SUFFIX not in episode.topics
                     else topic + COMPRESSED_SUFFIX for name, topic in camera_topics.items()}
    truncated, too_short = _truncation(episode)
    if too_short:
        return EpisodeResult(bag, 'rejected', too_short, truncated=truncated)
    facts = _episode_facts(bag, episode, position, config.default_task)
    index = int(facts.episode_index)
    if index in taken:
        raise ConversionError(f'{bag}: episode index {index} was already produced by another bag in this run')
    output = config.output_dir / episode_file_name(index)
    if output.exists() and not config.overwrite:
        return EpisodeResult(bag, 'skipped', f'{output} exists; pass --overwrite to replace it', episode_index=index)
    # Only the episode's own messages: stamps of 0 and stamps outside the recorded
    # start..stop are dropped (and counted) before anything is resampled or gap-checked.
    dropped = keep_episode_window(episode, *facts.window())
    if wanted_cameras is None:
        recorded = facts.cameras
        wanted_cameras = [c for c in (recorded or robot.camera_names) if camera_topics.get(c) in episode.topics]
        if not wanted_cameras:
            raise ConversionError(f'{bag}: none of the cameras {list(robot.camera_names)} of robot {robot.name!r} is in the bag')

    # Joint streams as robot vectors.
    follower = [_arm_stream(bag, episode, arm, 'follower') for arm in robot.arms]
    cameras = {name: episode.topic(camera_topics[name], f'camera {name}') for name in wanted_cameras}
    if config.action_source == 'commanded':
        action_msgs = episode.topic(robot.action_topic, 'commanded action')
        action_times, action_values = action_msgs.times, _action_vectors(bag, robot, action_msgs)
        action_streams = [(robot.action_topic, action_times)]
    else:
        leader = [_arm_stream(bag, episode, arm, 'leader') for arm in robot.arms]
        action_streams = [(arm.leader.joint_states_topic, stream[0]) for arm, stream in zip(robot.arms, leader)]

    # The control grid: where every stream has data.
    period_ns = round(1e9 / robot.control_rate_hz)
    state_streams = [(arm.follower.joint_states_topic, stream[0]) for arm, stream in zip(robot.arms, follower)]
    firsts = [times[0] for _, times in state_streams + action_streams] + [c.times[0] for c in cameras.values()]
    lasts = [times[-1] for _, times in state_streams + action_streams]
    first = int(max(firsts))
    if config.action_source == 'commanded':
        # The commander's ticks are the control clock: anchor the grid on its first command.
        later = action_times[action_times >= first]
        first = int(later[0]) if len(later) else first
    ticks = control_grid(first, int(min(lasts)), period_ns)
    if len(ticks) < 2:
        raise ConversionError(f'{bag}: the streams overlap for less than two control periods; nothing to convert')

    timings = [stream_timing(topic, times) for topic, times in state_streams + action_streams]
    timings += [stream_timing(msgs.topic, msgs.times) for msgs in cameras.values()]
    result = EpisodeResult(bag, 'converted', episode_index=index, task=str(facts.task),
                           success=bool(facts.success), timings=timings, dropped=dropped, truncated=truncated)
    too_long = [t for t in timings if t.max_gap_s > config.max_gap_s]
    if too_long:
        worst = max(too_long, key=lambda t: t.max_gap_s)
        result.status = 'rejected'
        result.reason = (f'{worst.topic} has a gap of {worst.max_gap_s:.3f} s (max_gap_s {config.max_gap_s:g})'
                         + (f', ~{worst.missing} messages missing' if worst.missing else '')
                         + (f'; also {[t.topic for t in too_long if t is not worst]}' if len(too_long) > 1 else ''))
        return result

    qpos = np.concatenate([interpolate(times, values, ticks) for times, values, _ in follower], axis=1)  # (T, D)
    qvel = np.concatenate([
        interpolate(times, velocity, ticks) if velocity is not None
        else np.gradient(interpolate(times, values, ticks), period_ns / 1e9, axis=0)
        for times, values, velocity in follower], axis=1)  # (T, D)
    if config.action_source == 'commanded':
        picked = nearest_within(action_times, ticks, period_ns // 2)
        result.missing_actions = int(np.sum(picked < 0))
        held = newest_not_after(action_times, ticks)
        action = action_values[np.where(picked >= 0, picked, held)]  # (T, D)
    else:
        action = np.concatenate([_mapped_leader(arm, interpolate(times, values, ticks))
                                 for arm, (times, values, _) in zip(robot.arms, leader)], axis=1)  # (T, D)

    frame_picks = {}
    for name, msgs in cameras.items():
        picks = newest_not_after(msgs.times, ticks)
        frame_picks[msgs.topic] = picks
        ages = frame_ages_s(msgs.times, picks, ticks)
        camera_period = max(stream_timing(msgs.topic, msgs.times).median_period_s, period_ns / 1e9)
        result.late_frames[name] = int(np.sum(ages > 1.5 * camera_period))
    _write_episode(config, result, output, episode, cameras, frame_picks, ticks, qpos, qvel, action, facts)
    return result


def _truncation(episode: EpisodeBag) -> tuple[str, str]:
    """(what survived, '') for a bag cut by a crash, ('', '') for a whole one, and a rejection
    reason second when less than bag_recovery.MIN_RECOVERED_S survived."""
    from act_training.conversion.bag_recovery import MIN_RECOVERED_S

    report = episode.recovery
    if report is None or not report.truncated:
        return '', ''
    if report.duration_s < MIN_RECOVERED_S:
        return report.summary(), (f'only {report.duration_s:.2f} s survived the cut (less than {MIN_RECOVERED_S:g} s, '
                                  'too short to train on)')
    return report.summary(), ''


def _arm_stream(bag: Path, episode: EpisodeBag, arm: ArmConfig, side: str):
    """(times (N,), vectors (N, dof), velocities (N, dof) or None) of one arm's joint states."""
    topic = arm.follower.joint_states_topic if side == 'follower' else arm.leader.joint_states_topic
    msgs = episode.topic(topic, f'{side} joint states of arm {arm.name}')
    to_vector = follower_vector if side == 'follower' else leader_vector
    try:
        values = np.stack([to_vector(arm, list(m.name), list(m.position)) for m in msgs.messages])  # (N, dof)
    except JointStateError as error:
        raise ConversionError(f'{bag}: {side} joint states of arm {arm.name!r} do not match the robot config: {error}') from error
    velocities = None
    gripper = arm.follower.gripper if side == 'follower' else arm.leader.gripper
    if all(len(m.velocity) == len(m.name) for m in msgs.messages):
        wanted = list(arm.joint_names) + [gripper.joint]
        rows = []
        for m in msgs.messages:
            by_name = dict(zip(m.name, m.velocity))
            rows.append([by_name[j] for j in wanted])
        velocities = np.asarray(rows, dtype=np.float64)  # (N, dof)
        velocities[:, -1] /= gripper.open - gripper.closed  # normalized opening per second
    return msgs.times, values, velocities


def _action_vectors(bag: Path, robot: RobotConfig, msgs) -> np.ndarray:
    expected = list(robot.vector_names)
    rows = []
    for k, m in enumerate(msgs.messages):
        by_name = dict(zip(m.name, m.position))
        missing = [name for name in expected if name not in by_name]
        if missing or len(m.name) != len(m.position):
            raise ConversionError(f'{bag}: {msgs.topic} message {k} joint list does not match robot {robot.name!r}: '
                                  f'missing {missing}, has {list(m.name)}')
        rows.append([by_name[name] for name in expected])
    values = np.asarray(rows, dtype=np.float64)  # (N, D)
    if not np.all(np.isfinite(values)):
        raise ConversionError(f'{bag}: {msgs.topic} holds non-finite commands')
    return values


def _mapped_leader(arm: ArmConfig, leader: np.ndarray) -> np.ndarray:
    """Leader vectors (T, dof) -> follower targets as teleop maps them (unfiltered)."""
    mapped = leader.copy()
    mapped[:, :-1] = np.asarray(arm.leader.signs) * leader[:, :-1] + np.asarray(arm.leader.offsets)
    return mapped


def _write_episode(config, result, output, episode, cameras, frame_picks, ticks, qpos, qvel, action, facts) -> None:
    robot = config.robot
    camera_of = {msgs.topic: name for name, msgs in cameras.items()}
    orders = {msgs.topic: msgs.order for msgs in cameras.values() if msgs.order is not None}
    rows_of = {topic: {} for topic in frame_picks}  # frame index -> grid rows showing it
    for topic, picks in frame_picks.items():
        for row, frame in enumerate(picks.tolist()):
            rows_of[topic].setdefault(frame, []).append(row)
    writer = EpisodeFileWriter(output, len(ticks), qpos.shape[1], action_size=action.shape[1],
                               image_storage=config.image_storage, jpeg_quality=config.jpeg_quality)
    try:
        filled = {name: 0 for name in cameras}
        for topic, frame, rgb in ImageFetcher(episode.path).frames(frame_picks, orders):
            name = camera_of[topic]
            try:
                dataset = writer.camera(name, rgb.shape[0], rgb.shape[1])
            except ValueError as error:
                raise ConversionError(f'{episode.path}: {topic} frame {frame}: {error}') from error
            for row in rows_of[topic][frame]:
                dataset[row] = rgb
                filled[name] += 1
        short = {name: count for name, count in filled.items() if count != len(ticks)}
        if short:
            raise ConversionError(f'{episode.path}: could not read every picked frame: rows filled {short} of {len(ticks)}')
        writer.qpos[:] = qpos
        writer.qvel[:] = qvel
        writer.action[:] = action
        writer.set_attributes({
            'sim': bool(robot.simulated), 'task': str(facts.task), 'robot': robot.name,
            'vector_names': list(robot.vector_names), 'action_names': list(robot.vector_names),
            'camera_names': list(cameras),
            'control_rate_hz': float(robot.control_rate_hz), 'success': bool(facts.success),
            'seed': int(facts.seed), 'source': str(episode.path), 'episode_index': int(result.episode_index),
            'action_source': config.action_source, 'time_source': config.time_source,
            'start_time_ns': int(ticks[0]), 'truncated': bool(result.truncated), 'recovery': result.truncated,
            # How a simulator rendered the frames (absent for real cameras): training carries it
            # into the checkpoint, and `act eval` renders with it.
            **({'render_settings': dict(facts.render_settings)} if facts.render_settings else {}),
        })
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    result.output, result.frames = output, len(ticks)
