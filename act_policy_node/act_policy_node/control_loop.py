"""What the policy node commands on one control tick, decided without ROS.

Per tick, in this order:
1. Before the first command, the safety filter is seeded with the measured follower
   position, so the step limit applies from where the robot is (nothing is sent before).
2. Hold the last command when the joint states are invalid (NaN, missing joints) or any
   observation source is stale: its newest stamp is older than observation_timeout_s (or
   more than that in the future: a clock jump is not fresh data). Such a hold is a gap:
   every chunk observed before the gap began is dropped, and such chunks arriving later
   are refused, so no command after a gap comes from what was seen before it. (The start,
   not the end: a slow inference on a loaded machine always delivers an observation older
   than the newest short gap, and refusing those would starve the node.)
3. Hold when no chunk covers the tick (before the first chunk, or inference fell behind
   by more than a chunk).
4. Otherwise ensemble the rows the covering chunks propose (temporal_ensembler) and pass
   the target through CommandFilter (limits, max step; a non-finite target holds).

Holding means repeating the last command that was sent, so the robot stays where it was
told to be; the decision says why, for PolicyStatus.

Chunks belong to an activation. `start` opens activation N at a time t_N; `accept` stores
a chunk only when it was computed in activation N from an observation stamped at or after
t_N. Anything else (an inference that was in flight across a deactivate/activate, a
cleanup/configure, or that returns after deactivation) is dropped and counted, never
executed: `act eval` deactivates, resets the sim and activates between episodes, and the
previous episode's chunk must not move the robot in the next one.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from act_common.command_safety import CommandFilter, FilterReport, SafetyLimits
from act_policy_node.chunk_buffer import ChunkBuffer, TimedChunk
from act_policy_node.temporal_ensembler import DEFAULT_M, Weighting, ensemble


@dataclass(frozen=True)
class ControlSettings:
    weighting: Weighting = Weighting.OLDEST_FIRST
    ensemble_m: float = DEFAULT_M
    # A source whose newest message is older than this (by its header stamp) stops the
    # policy: the last command is held until it is fresh again.
    observation_timeout_s: float = 0.2

    def __post_init__(self):
        if not isinstance(self.weighting, Weighting):
            raise ValueError(f'weighting must be a Weighting, got {self.weighting!r}')
        if not (math.isfinite(self.ensemble_m) and self.ensemble_m >= 0):
            raise ValueError(f'ensemble_m must be finite and >= 0, got {self.ensemble_m}')
        if not (math.isfinite(self.observation_timeout_s) and self.observation_timeout_s > 0):
            raise ValueError(f'observation_timeout_s must be > 0, got {self.observation_timeout_s}')

    def describe_execution(self) -> str:
        """How chunks become commands, for figures that depend on it: 'chunked execution' or
        'temporal ensembling (oldest_first, m = 0.01)'."""
        if self.weighting is Weighting.CHUNKED:
            return 'chunked execution'
        return f'temporal ensembling ({self.weighting.value}, m = {self.ensemble_m:g})'


@dataclass(frozen=True)
class TickDecision:
    # What to publish this tick; None before the filter has a follower position to start from.
    command: np.ndarray | None
    held: bool
    # Why the command was held ('' when a new target was commanded).
    reason: str = ''
    ensemble_depth: int = 0
    # Chunks that shaped a sent command for the first time (for observation-to-command latency).
    first_used: tuple[TimedChunk, ...] = ()
    # Every chunk whose row shaped the command (empty when held).
    contributing: tuple[TimedChunk, ...] = ()
    report: FilterReport = field(default_factory=FilterReport)


def stale_sources(stamps_ns: Mapping[str, int | None], now_ns: int, timeout_ns: int) -> dict[str, float | None]:
    """Sources with no message yet (None) or whose newest stamp is older than timeout, or
    further than timeout in the future (a clock jump): {source: age in s, negative = future}."""
    stale = {}
    for source, stamp in stamps_ns.items():
        if stamp is None:
            stale[source] = None
        elif abs(now_ns - stamp) > timeout_ns:
            stale[source] = (now_ns - stamp) * 1e-9
    return stale


def describe_stale(stale: Mapping[str, float | None]) -> str:
    def age_text(age):
        if age is None:
            return 'never received'
        return f'{age:.2f} s old' if age >= 0 else f'stamped {-age:.2f} s in the future'

    return 'stale observation: ' + ', '.join(f'{source} {age_text(age)}' for source, age in stale.items())


def stale_chunk_reason(chunk: TimedChunk, activation: int | None, activation_started_ns: int | None) -> str:
    """Why a chunk must not be executed in the current activation ('' when it may).

    activation: the current activation, None while inactive; activation_started_ns: when
    it began (node clock), None for no bound on the observation stamp."""
    if activation is None:
        return f'chunk of activation {chunk.activation} arrived while inactive'
    if chunk.activation != activation:
        return f'chunk of activation {chunk.activation} arrived in activation {activation}'
    if activation_started_ns is not None and chunk.observation_stamp_ns < activation_started_ns:
        return (f'chunk from an observation stamped {(activation_started_ns - chunk.observation_stamp_ns) * 1e-9:.3f} s '
                f'before activation {activation} began')
    return ''


class ControlLoop:
    """The decision of each tick; the node feeds it the clock, the joint states and the stamps."""

    def __init__(self, limits: SafetyLimits, period_ns: int, settings: ControlSettings = ControlSettings()):
        self.filter = CommandFilter(limits)
        self.buffer = ChunkBuffer(period_ns)
        self.settings = settings
        self._newest_used = -1
        # First tick of the newest run of holds for stale or unusable observations (None: none yet).
        self._gap_ns: int | None = None
        # start/stop and accept under one lock: a chunk checked against activation N is
        # never stored after activation N + 1 has cleared the buffer.
        self._activation_lock = threading.Lock()
        self._in_gap = False
        self.activation: int | None = None
        self.activation_started_ns: int | None = None
        # Chunks refused by accept since the last start: of another activation or observed
        # before it began (stale_chunks_dropped), and of a wrong width or observed before
        # the last observation gap began (chunks_refused).
        self.stale_chunks_dropped = 0
        self.chunks_refused = 0

    def start(self, activation: int = 0, started_ns: int | None = None) -> None:
        """Opens an activation: forgets chunks, the last command and the last observation
        gap (the next tick re-seeds from the measured position); from now on only chunks of
        `activation` computed from observations stamped at or after started_ns are accepted."""
        with self._activation_lock:
            self.filter.clear()
            self.buffer.clear()
            self._newest_used = -1
            self._gap_ns = None
            self._in_gap = False
            self.activation, self.activation_started_ns = activation, started_ns
            self.stale_chunks_dropped = 0
            self.chunks_refused = 0

    def stop(self) -> None:
        """Closes the activation: chunks arriving from now on are dropped."""
        with self._activation_lock:
            self.activation = None
            self.buffer.clear()

    def accept(self, chunk: TimedChunk) -> tuple[TimedChunk | None, str]:
        """Stores a chunk from inference: (the stored chunk, '') or (None, why it was refused);
        the rules are admit's."""
        stored, reason, _stale = self.admit(chunk)
        return stored, reason

    def admit(self, chunk: TimedChunk) -> tuple[TimedChunk | None, str, bool]:
        """Stores a chunk from inference: (the stored chunk, '', False) or (None, why it was
        refused, whether it was refused as stale, i.e. for its activation).

        Refused, in this order: a chunk of another activation or observed before the
        activation began (stale, counted in stale_chunks_dropped); a row width other than
        the robot vector's, or an observation at or before the start of the last
        observation gap (counted in chunks_refused). Both rules hold: an activation's chunks are still
        dropped when they predate a gap inside it."""
        with self._activation_lock:
            reason = stale_chunk_reason(chunk, self.activation, self.activation_started_ns)
            if reason:
                self.stale_chunks_dropped += 1
                return None, reason, True
            width = self.filter.limits.size
            if chunk.actions.shape[1] != width:
                self.chunks_refused += 1
                return None, f'chunk of shape {chunk.actions.shape} refused: rows must have {width} entries', False
            if self._gap_ns is not None and chunk.observation_stamp_ns <= self._gap_ns:
                self.chunks_refused += 1
                return None, (f'chunk refused: observed {(self._gap_ns - chunk.observation_stamp_ns) * 1e-9:.3f} s '
                              'before the last observation gap'), False
            return self.buffer.add(chunk), '', False

    def decide(self, tick_ns: int, measured_state: np.ndarray | None, state_problem: str,
               source_stamps_ns: Mapping[str, int | None]) -> TickDecision:
        """measured_state: the follower state vector, or None with state_problem saying why."""
        if measured_state is None:
            return self._gap(tick_ns, f'joint states unusable: {state_problem}')
        if self.filter.last_command is None:
            self.filter.reset(measured_state)
        stale = stale_sources(source_stamps_ns, tick_ns, round(self.settings.observation_timeout_s * 1e9))
        if stale:
            return self._gap(tick_ns, describe_stale(stale))
        self._in_gap = False
        self.buffer.prune(tick_ns)
        if self._gap_ns is not None:  # a chunk that accept let in while the gap was being set
            self.buffer.drop_observed_until(self._gap_ns)
        proposals = self.buffer.proposals(tick_ns)
        if proposals is None:
            return self._hold('no chunk covers this tick yet')
        target = ensemble(proposals.rows, self.settings.ensemble_m, self.settings.weighting)  # (D,)
        command, report = self.filter.step(target)
        if report.held:
            return TickDecision(command=command, held=True, reason=f'policy output rejected: {report.reason}',
                                report=report)
        contributing = proposals.chunks[-1:] if self.settings.weighting is Weighting.CHUNKED else proposals.chunks
        # Chunks arrive in observation order (one inference worker): a sequence above the
        # newest one used before is a first use.
        first_used = tuple(chunk for chunk in contributing if chunk.sequence > self._newest_used)
        self._newest_used = max([self._newest_used] + [chunk.sequence for chunk in contributing])
        return TickDecision(command=command, held=False, ensemble_depth=len(contributing),
                            first_used=first_used, contributing=tuple(contributing), report=report)

    def _gap(self, tick_ns: int, reason: str) -> TickDecision:
        """Hold for missing observations; what was predicted before is not used after."""
        if not self._in_gap:
            self._gap_ns, self._in_gap = tick_ns, True
        self.buffer.drop_observed_until(self._gap_ns)
        return self._hold(reason)

    def _hold(self, reason: str) -> TickDecision:
        command, report = self.filter.hold(reason)
        return TickDecision(command=command, held=True, reason=reason, report=report)
