"""The policy node's command path, driven by generated input sequences, with its safety checked.

The path is the node's, without ROS: messages go into observation_sync (as the node's
subscription callbacks store them, by header stamp); an inference step takes the newest
synchronized set as inference_worker does, builds the model input with observations.py
(joint vectors, camera images) and hands a chunk from a stand-in model to
ControlLoop.accept (in an activation begun at the first tick, as the node starts one);
every control tick is ControlLoop.decide on the newest joint states and stamps, exactly as policy_node._on_control_tick calls it. The real ActPolicy is
replaced by a model whose output the scenario chooses (shape, non-finite rows, huge
values, delay), because the property is about what the path does with any output.

Generated per tick: for each joint-state and camera source, a message or none, with its
stamp on time, jumping backwards or forwards, or duplicated, and its content broken in
one of several ways (NaN/inf, huge values, reordered/missing/extra names; images of a size
that does not match their data, of unsupported encodings). Outages silence one source for
many ticks. Inference delays are arbitrary (0 to 3 s).

Checked at every tick (`Violation` names the first broken rule):
- no exception leaves the path (in the node it would kill a callback or the worker);
- a sent command is finite, inside the joint limits, within max_step of the previous
  command (of the measured position for the first one); a held tick repeats it exactly;
- a hold has a reason; a commanded tick has a command;
- a commanded tick sees every source's newest stamp within observation_timeout_s of the
  tick, and every chunk behind the command was observed after the first tick of the last
  run of holds for stale or unusable observations (nothing seen before a gap began drives
  the robot after it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from hypothesis import strategies as st

from act_common.command_safety import SafetyLimits
from act_common.robot_config import load_robot_config
from act_policy_node.chunk_buffer import TimedChunk
from act_policy_node.control_loop import ControlLoop, ControlSettings
from act_policy_node.inference_worker import QuerySettings
from act_policy_node.observation_sync import ObservationSynchronizer
from act_policy_node.observations import ObservationError, joint_state_topics, measured_state, policy_images

ROBOT = load_robot_config(Path(__file__).resolve().parents[1] / 'act_common' / 'config' / 'robots' / 'aloha_sim.yaml')
LIMITS = SafetyLimits.from_robot(ROBOT)
PERIOD_NS = round(ROBOT.control_period_s * 1e9)
SETTINGS = ControlSettings(observation_timeout_s=0.2)
QUERY = QuerySettings(period_ns=PERIOD_NS, max_skew_ns=20_000_000)
CAMERAS = {'top': ROBOT.camera('top')}
JOINT_TOPICS = joint_state_topics(ROBOT)  # {arm: topic}
SOURCES = [camera.topic for camera in CAMERAS.values()] + list(JOINT_TOPICS.values())
START_NS = 1_000 * 1_000_000_000
# Floating-point slack on the limit checks (the filter clips exactly; this only absorbs
# the subtraction in the check itself).
EPS = 1e-9

STAMP_FAULTS = ('late', 'backwards', 'forwards', 'duplicate')
JOINT_FAULTS = ('nan', 'inf', 'huge', 'overflow_gripper', 'reordered', 'missing_name', 'extra_name', 'length_mismatch')
IMAGE_FAULTS = ('bgr8', 'mono8', 'wrong_size', 'short_data', 'bad_encoding', 'empty')
CHUNK_KINDS = ('ok',) * 8 + ('narrow', 'wide', 'flat', 'cube', 'nan_rows', 'inf_rows', 'huge', 'empty')
# Per scenario, the share of messages with a broken stamp or content: from a clean run to
# one where most ticks hold (a reordered joint list is valid content: it must command).
FAULT_RATES = (0.0, 0.01, 0.03, 0.1, 0.3)


def generate_events(ticks: int, fault_rate: float, events_seed: int) -> list:
    """Per tick {source: (stamp kind, content kind, u, seed) or None}. Drawn with numpy from
    one seed (hypothesis draws the seed, the rate and the rest): hypothesis' own draws lean
    to boundary values, which here would make every message a fault."""
    rng = np.random.default_rng(events_seed)
    events = []
    for _ in range(ticks):
        tick = {}
        for source in SOURCES:
            if rng.random() < 0.05:
                tick[source] = None  # no message this tick
                continue
            faults = IMAGE_FAULTS if 'camera' in source else JOINT_FAULTS
            stamp = str(rng.choice(STAMP_FAULTS)) if rng.random() < fault_rate / 2 else 'on_time'
            content = str(rng.choice(faults)) if rng.random() < fault_rate / 2 else 'ok'
            tick[source] = (stamp, content, float(rng.random()), int(rng.integers(2**31)))
        events.append(tick)
    return events


@st.composite
def scenarios(draw, min_ticks=20, max_ticks=200):
    """A whole run: per tick the messages of each source, plus outages and the model's outputs."""
    ticks = draw(st.integers(min_ticks, max_ticks))
    events = generate_events(ticks, draw(st.sampled_from(FAULT_RATES)), draw(st.integers(0, 2**32 - 1)))
    outages = draw(st.lists(st.tuples(st.sampled_from(SOURCES), st.integers(0, ticks), st.integers(1, 120)),
                            max_size=3))
    for source, start, length in outages:
        for tick in range(start, min(ticks, start + length)):
            events[tick][source] = None
    # Inference delays: mostly a few ticks (the CPU's 30-200 ms), sometimes up to 3 s.
    delays = st.one_of(st.integers(0, 10), st.integers(0, 150))
    sizes = st.one_of(st.integers(50, 120), st.integers(1, 120))  # ACT's chunk_size is 100
    outputs = draw(st.lists(st.tuples(st.sampled_from(CHUNK_KINDS), sizes, delays,
                                      st.integers(0, 2**31 - 1)), min_size=1, max_size=40))
    return Scenario(events, outputs)


@dataclass
class Scenario:
    events: list  # per tick: {source: (stamp kind, content kind, u, seed) or None}
    outputs: list  # cycled: (chunk kind, chunk size S, inference delay in ticks, seed)


class Violation(AssertionError):
    pass


@dataclass
class Counts:
    sequences: int = 0
    ticks: int = 0
    commands: int = 0
    commanded: int = 0  # ticks with a new (not held) target
    holds: dict = field(default_factory=dict)
    chunks_added: int = 0
    chunks_refused: int = 0
    observations_skipped: int = 0

    def merge(self, other: 'Counts') -> None:
        for name in ('sequences', 'ticks', 'commands', 'commanded', 'chunks_added', 'chunks_refused',
                     'observations_skipped'):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for reason, count in other.holds.items():
            self.holds[reason] = self.holds.get(reason, 0) + count


def _stamp(kind: str, now_ns: int, last_ns: int | None, u: float) -> int:
    if kind == 'duplicate' and last_ns is not None:
        return last_ns
    if kind == 'late':
        return now_ns - int(u * 0.5e9)
    if kind == 'backwards':
        return now_ns - int((0.05 + 5 * u) * 1e9)
    if kind == 'forwards':  # a source's clock ahead by up to 1 s (it is held until time catches up)
        return now_ns + int((0.05 + 0.95 * u) * 1e9)
    return now_ns - int(u * 15e6)


def _joint_message(arm, content: str, stamp_ns: int, rng: np.random.Generator):
    names = list(arm.joint_names) + [arm.follower.gripper.joint]
    positions = list(rng.uniform(arm.follower.lower_limits[:-1], arm.follower.upper_limits[:-1]))
    positions.append(float(rng.uniform(arm.follower.gripper.closed, arm.follower.gripper.open)))
    if content == 'nan':
        positions[rng.integers(len(positions))] = math.nan
    elif content == 'inf':
        positions[rng.integers(len(positions))] = -math.inf if rng.integers(2) else math.inf
    elif content == 'huge':
        positions[rng.integers(len(positions) - 1)] = float(rng.choice([1e300, -1e300, 1e9]))
    elif content == 'overflow_gripper':
        positions[-1] = 1.7e308
    elif content == 'reordered':
        order = rng.permutation(len(names))
        names, positions = [names[i] for i in order], [positions[i] for i in order]
    elif content == 'missing_name':
        drop = int(rng.integers(len(names)))
        names, positions = names[:drop] + names[drop + 1:], positions[:drop] + positions[drop + 1:]
    elif content == 'extra_name':
        names, positions = names + ['unknown_joint'], positions + [0.0]
    elif content == 'length_mismatch':
        positions = positions[:-1]
    stamp = SimpleNamespace(sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000)
    return SimpleNamespace(header=SimpleNamespace(stamp=stamp), name=names, position=positions)


def _image_message(content: str, stamp_ns: int, rng: np.random.Generator):
    height, width = int(rng.integers(1, 12)), int(rng.integers(1, 12))
    encoding, channels = 'rgb8', 3
    if content in ('bgr8', 'mono8'):
        encoding, channels = content, (3 if content == 'bgr8' else 1)
    data = rng.integers(0, 256, height * width * channels, dtype=np.uint8).tobytes()
    step = width * channels
    if content == 'wrong_size':
        height += int(rng.integers(1, 5))  # header says more rows than the data holds
    elif content == 'short_data':
        data = data[: len(data) // 2]
    elif content == 'bad_encoding':
        encoding = str(rng.choice(['rgba8', '16UC1', 'jpeg', '', 'yuv422']))
    elif content == 'empty':
        height = width = step = 0
        data = b''
    stamp = SimpleNamespace(sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000)
    return SimpleNamespace(header=SimpleNamespace(stamp=stamp), encoding=encoding, height=height, width=width,
                           step=step, data=data)


def _model_output(kind: str, size: int, qpos: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """What the stand-in model returns for one observation: normally (S, D) near qpos."""
    width = LIMITS.size
    actions = qpos[None, :] + np.cumsum(rng.normal(0, 0.05, (size, width)), axis=0)  # (S, D)
    if kind == 'narrow':
        return actions[:, :-1]
    if kind == 'wide':
        return np.concatenate([actions, actions[:, :1]], axis=1)
    if kind == 'flat':
        return actions[0]
    if kind == 'cube':
        return actions[None]
    if kind == 'nan_rows':
        actions[rng.integers(size, size=max(1, size // 4)), rng.integers(width)] = math.nan
    elif kind == 'inf_rows':
        actions[rng.integers(size, size=max(1, size // 4))] = math.inf
    elif kind == 'huge':
        actions *= 1e6
    elif kind == 'empty':
        return actions[:0]
    return actions


def run_scenario(scenario: Scenario) -> Counts:
    """Runs one sequence through the path; raises Violation at the first broken rule."""
    counts = Counts(sequences=1)
    synchronizer = ObservationSynchronizer(SOURCES)
    loop = ControlLoop(LIMITS, PERIOD_NS, SETTINGS)
    loop.start(activation=0, started_ns=START_NS)  # the node's on_activate; chunks carry activation 0
    timeout_ns = round(SETTINGS.observation_timeout_s * 1e9)
    last_stamp = {source: None for source in SOURCES}
    previous = None  # the last command sent
    last_gap_ns = None
    in_gap = False
    busy = None  # (done at tick index, observation stamp, actions)
    last_query_ns = None
    output_index = 0
    arms = {arm.name: arm for arm in ROBOT.arms}
    topic_arm = {topic: arms[name] for name, topic in JOINT_TOPICS.items()}

    for index, tick_events in enumerate(scenario.events):
        now_ns = START_NS + index * PERIOD_NS
        # Sensor messages (the node's subscription callbacks: store by header stamp).
        for source, event in tick_events.items():
            if event is None:
                continue
            stamp_kind, content, u, seed = event
            rng = np.random.default_rng(seed)
            stamp_ns = _stamp(stamp_kind, now_ns, last_stamp[source], u)
            message = (_joint_message(topic_arm[source], content, stamp_ns, rng) if source in topic_arm
                       else _image_message(content, stamp_ns, rng))
            synchronizer.store(source, stamp_ns, message)
            last_stamp[source] = stamp_ns

        # Inference (inference_worker's loop, one step per tick; the delay is in ticks).
        try:
            if busy is not None and index >= busy[0]:
                _, stamp_ns, actions, latency_s = busy
                busy = None
                chunk = TimedChunk(stamp_ns, np.asarray(actions, dtype=np.float64), latency_s)
                stored, _problem = loop.accept(chunk)
                counts.chunks_added += stored is not None
                counts.chunks_refused += stored is None
        except ValueError:
            counts.chunks_refused += 1  # refused at construction (the worker reports it)
        except Exception as error:
            raise Violation(f'tick {index}: adding a chunk raised {type(error).__name__}: {error}') from error
        if busy is None:
            observation = synchronizer.newest_set(QUERY.max_skew_ns, newer_than_ns=QUERY.next_query_after(last_query_ns))
            if observation is not None:
                last_query_ns = observation.stamp_ns
                kind, size, delay, seed = scenario.outputs[output_index % len(scenario.outputs)]
                output_index += 1
                try:
                    joints = {arm: observation.messages[topic] for arm, topic in JOINT_TOPICS.items()}
                    qpos = measured_state(ROBOT, joints)  # (D,)
                    images = policy_images(CAMERAS, observation.messages)  # {camera: (H, W, 3)}
                    for name, rgb in images.items():
                        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
                            raise Violation(f'tick {index}: camera {name} reached the model as {rgb.shape} {rgb.dtype}')
                    actions = _model_output(kind, size, qpos, np.random.default_rng(seed))
                    busy = (index + delay, observation.stamp_ns, actions, delay * PERIOD_NS * 1e-9)
                except ObservationError:
                    counts.observations_skipped += 1
                except Violation:
                    raise
                except Exception as error:
                    raise Violation(f'tick {index}: building the model input raised {type(error).__name__}: {error}') from error

        # The control tick (policy_node._on_control_tick).
        try:
            joint_states = {}
            for arm, topic in JOINT_TOPICS.items():
                newest = synchronizer.newest(topic)
                joint_states[arm] = None if newest is None else newest.message
            try:
                state, problem = measured_state(ROBOT, joint_states), ''
            except ObservationError as error:
                state, problem = None, str(error)
            stamps = synchronizer.newest_stamps()
            decision = loop.decide(now_ns, state, problem, stamps)
        except Exception as error:
            raise Violation(f'tick {index}: the control tick raised {type(error).__name__}: {error}') from error
        counts.ticks += 1
        _check_tick(index, decision, previous, state, stamps, now_ns, timeout_ns, last_gap_ns, loop)
        if decision.held:
            category = decision.reason.split(':')[0]
            counts.holds[category] = counts.holds.get(category, 0) + 1
            if decision.reason.startswith(('stale observation', 'joint states unusable')):
                if not in_gap:
                    last_gap_ns = now_ns  # the first tick of this gap
                in_gap = True
            else:
                in_gap = False
        else:
            in_gap = False
            counts.commanded += 1
        if decision.command is not None:
            counts.commands += 1
            previous = decision.command.copy()
    return counts


def _check_tick(index, decision, previous, state, stamps, now_ns, timeout_ns, last_gap_ns, loop) -> None:
    command = decision.command
    if decision.held and not decision.reason:
        raise Violation(f'tick {index}: held without a reason')
    if not decision.held and command is None:
        raise Violation(f'tick {index}: not held but no command')
    if command is None:
        if previous is not None:
            raise Violation(f'tick {index}: no command after commands were sent')
        return
    if command.shape != (LIMITS.size,) or not np.all(np.isfinite(command)):
        raise Violation(f'tick {index}: command {command} is not {LIMITS.size} finite values')
    if np.any(command < LIMITS.lower - EPS) or np.any(command > LIMITS.upper + EPS):
        raise Violation(f'tick {index}: command outside the joint limits at {np.flatnonzero((command < LIMITS.lower) | (command > LIMITS.upper)).tolist()}')
    reference = previous if previous is not None else np.clip(state, LIMITS.lower, LIMITS.upper)
    if np.any(np.abs(command - reference) > LIMITS.max_step + EPS):
        raise Violation(f'tick {index}: step {np.max(np.abs(command - reference) - LIMITS.max_step):+.3g} beyond max_step')
    if decision.held and previous is not None and not np.array_equal(command, previous):
        raise Violation(f'tick {index}: a hold did not repeat the previous command')
    if decision.held:
        return
    for source, stamp in stamps.items():
        if stamp is None or abs(now_ns - stamp) > timeout_ns:
            raise Violation(f'tick {index}: commanded although {source} is stamped {stamp} at tick {now_ns}')
    proposals = loop.buffer.proposals(now_ns)
    chunks = proposals.chunks if proposals is not None else ()
    if not chunks:
        raise Violation(f'tick {index}: commanded with no chunk covering the tick')
    for chunk in chunks:
        if last_gap_ns is not None and chunk.observation_stamp_ns <= last_gap_ns:
            raise Violation(f'tick {index}: command from a chunk observed {(last_gap_ns - chunk.observation_stamp_ns) / 1e9:.3f} s '
                            'before the last observation gap')
