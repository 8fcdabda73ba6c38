"""Closed-loop evaluation of a checkpoint on the simulated ALOHA, over ROS (`act eval`).

    report = evaluate(EvalConfig(checkpoint='runs/cube/best', task='transfer_cube', episodes=50))

The robot is act_sim's `sim_node` in its own process, as a real robot's drivers would be;
the policy node and act_sim's episode monitor (reset service, rewards) run in this
process. The separate process keeps the simulator's rendering and physics off this
process's GIL, so the policy's control loop is timed as it would be next to real
hardware, and the figures (deadline misses, latency) mean the same as on a robot.
Messages cross processes over DDS (loopback, shared memory for the camera images: see
act_bringup/config/fastdds_large_data.xml).

Each episode: deactivate the policy; reset the sim with the episode's seed (robot home,
objects at the seeded pose); wait for the first state of the episode; activate the policy
(it starts from the measured position, with no chunk from the previous episode); run
`episode_steps` control steps of sim time; deactivate. The policy node runs on the sim's
clock (use_sim_time), so its 50 Hz control ticks are sim ticks. Two modes
(act_common.success_rate.EVAL_MODES), stated with every figure:
- `realtime` (the deployment figure): the sim paces itself to the wall clock
  (real_time_factor, 1.0 = real time); inference latency costs sim time as it would on
  the robot; a factor below 1 gives a slow computer the time a faster one has.
- `lockstep` (the paper's protocol): sim_node runs with real_time_factor 0 and waits for
  the command of every tick; the policy node (its `lockstep` parameter) commands a tick on
  which a query is due only once the chunk of that tick's observation is in. Inference
  latency costs no sim time and the figure does not depend on the machine's speed: the
  same commands as act_tools.lockstep_rollout's plain-Python loop.

Success is the paper's sim criterion, defined once in act_sim.tasks.TaskSpec.success: the
task's maximum reward was reached at some step of the episode. The rate is reported with
its 95 % Wilson interval, the episode count and the seeds (act_common.success_rate).

Rendering: the sim renders with the checkpoint's render settings (the ones its training
episodes were recorded with, carried from episode.json through the HDF5 attributes into
the checkpoint's dataset info); `sim_parameters` that differ are used, with a warning.

Seeds: episode i uses seed seed_start + i. Training demonstrations are recorded from seed
0 upward (`act record --seed-start 0`, the default, tries seeds 0 .. 2N+2 for N episodes;
`act sim --seed 0`), so evaluation starts at EVAL_SEED_START = 100000 by default and never
meets a training scene unless a data set was recorded from that high a seed.
"
"""

from __future__ import annotations

import time
from typing import Callable

from rclpy.lifecycle import TransitionCallbackReturn

from act_common.ros_time import stamp_to_ns
from act_tools.evaluation.config import EvalConfig, EvalError
from act_tools.evaluation.rendering import eval_render_settings, warn_on_camera_size
from act_tools.evaluation.report import EpisodeOutcome, EvalReport
from act_tools.evaluation.sim_process import SimProcess
from act_tools.evaluation.video import EvalVideoNode, frames_on_grid, write_video

# Lockstep: the longest the sim waits for one command (an inference, wall time), seconds.
LOCKSTEP_TIMEOUT_S = 30.0


def evaluate(config: EvalConfig, progress: Callable[[str], None] = print,
             on_episode: Callable[[EpisodeOutcome], None] | None = None) -> EvalReport:
    """Runs config.episodes closed-loop episodes and returns (and writes) the report.
    progress(line) tells what is happening; on_episode(outcome) follows each episode."""
    from act_common.node_set import NodeSet, NodeSpec
    from act_common.config_paths import robot_config_path
    from act_tools.paths import node_params_path, use_large_data_dds_profile
    from act_policy_node.policy_node import PolicyNode
    from act_sim.episode_runner import EpisodeMonitorNode
    from act_sim.tasks import task_spec

    from act_tools.trajectory_trace import TrajectoryTraceNode

    use_large_data_dds_profile()  # camera images to this process; the sim process inherits it
    spec = task_spec(config.task)
    steps = config.episode_steps or spec.episode_length
    robot_path = str(robot_config_path(config.robot))
    lockstep = config.mode == 'lockstep'
    # Lockstep: all of a step's messages carry one stamp, so an observation is never a mix
    # of two steps (max_skew_s 0).
    mode_parameters = {'lockstep': True, 'max_skew_s': 0.0} if lockstep else {}
    policy_parameters = {**dict(config.policy_parameters), **mode_parameters, 'robot_config': robot_path,
                         'checkpoint': str(config.checkpoint), 'device': config.device, 'use_sim_time': True}
    specs = [NodeSpec(PolicyNode, params_file=node_params_path('policy'), overrides=policy_parameters),
             NodeSpec(EpisodeMonitorNode)]
    if config.video_dir is not None:
        specs.append(NodeSpec(EvalVideoNode))
    if config.trace_episodes:
        specs.append(NodeSpec(TrajectoryTraceNode, overrides={'use_sim_time': True}))
    # Store-only callbacks: one executor thread serves them fastest (see PolicyNode).
    with NodeSet(specs, threads=1) as nodes:
        nodes.spin_in_background()
        policy: PolicyNode = nodes.node(PolicyNode)
        monitor: EpisodeMonitorNode = nodes.node(EpisodeMonitorNode)
        video: EvalVideoNode | None = nodes.node(EvalVideoNode) if config.video_dir is not None else None
        trace: TrajectoryTraceNode | None = nodes.node(TrajectoryTraceNode) if config.trace_episodes else None
        progress(f'loading {config.checkpoint} on {config.device}')
        if policy.trigger_configure() != TransitionCallbackReturn.SUCCESS:
            raise EvalError(f'the policy node refused the checkpoint: {policy.status_detail}')
        cameras = [camera.name for camera in policy.camera_configs.values()]
        video_camera = config.video_camera or cameras[0]
        if video is not None and video_camera not in cameras:
            cameras.append(video_camera)
        render = eval_render_settings(config.checkpoint, config.sim_parameters, progress)
        warn_on_camera_size(config.checkpoint, policy.camera_configs, progress)
        # The sim starts on a seed no episode uses, so that nothing it publishes before the
        # first reset can pass for that episode's first step. In lockstep it waits for each
        # command as long as an inference can take.
        timing = ({'real_time_factor': 0.0, 'lockstep_timeout_s': LOCKSTEP_TIMEOUT_S} if lockstep
                  else {'real_time_factor': config.real_time_factor})
        sim_parameters = {**dict(config.sim_parameters), **render, 'robot_config': robot_path,
                          'task': config.task, 'seed': config.seed_start + config.episodes, 'cameras': cameras,
                          **timing}
        output_dir = config.output_dir
        sim = SimProcess(sim_parameters, output_dir / 'sim_node.log')
        try:
            if video is not None:
                video.record_camera(policy.robot.camera(video_camera).topic)
            if trace is not None:
                trace.watch(policy.robot)
            # In lockstep the sim publishes a step only after a command (or a reset): a reset
            # repeats the first state for subscribers that discovery matched late.
            refresh = (lambda: monitor.reset_episode(config.task, config.seed_start + config.episodes,
                                                     config.startup_timeout_s)) if lockstep else None
            _wait_for_streams(policy, video, sim, config.startup_timeout_s, refresh)
            report = EvalReport(
                checkpoint=str(config.checkpoint), model_id=policy.policy.model_id, task=config.task,
                seeds=list(config.seeds), episode_steps=steps, mode=config.mode,
                real_time_factor=config.real_time_factor, device=config.device,
                policy_parameters=dict(config.policy_parameters), render_settings=render, episodes=[],
                execution=policy.control_settings.describe_execution())
            pacing = 'lockstep (sim waits for the policy)' if lockstep else \
                f'realtime (real-time factor {config.real_time_factor:g})'
            progress(f'evaluating {policy.policy.model_id} on {config.task}: {config.episodes} episodes of {steps} '
                     f'steps, seeds {config.seed_start}..{config.seed_start + config.episodes - 1}, {pacing}, '
                     f'render {render}, {report.execution}')
            for index, seed in enumerate(config.seeds):
                filmed = video if config.video_episodes is None or index < config.video_episodes else None
                traced = trace if index < config.trace_episodes else None
                outcome = _run_episode(config, index, seed, steps, spec.max_reward, policy, monitor, filmed, traced, sim)
                report.episodes.append(outcome)
                progress(f'episode {index} seed {seed}: {"success" if outcome.success else "failure"} '
                         f'(max reward {outcome.episode_max_reward:g}, {outcome.policy["chunks_computed"]} chunks, '
                         f'{outcome.wall_s:.1f} s)')
                report.write_json(output_dir / f'{config.task}_results.json')
                if on_episode is not None:
                    on_episode(outcome)
        finally:
            sim.close()
    return report


def _wait_for_streams(policy, video: EvalVideoNode | None, sim: SimProcess, timeout_s: float,
                      refresh: Callable[[], object] | None = None) -> None:
    """Until the policy has heard every camera and joint state topic, and the video
    subscription (if any) is matched: discovery across processes takes a second or two,
    and an episode must not start before its first frames can arrive. refresh(), if
    given, makes the sim publish again (every 2 s while something is silent)."""
    deadline = time.monotonic() + timeout_s
    silent: list[str] = []
    next_refresh = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        sim.check_alive()
        silent = [topic for topic, stamp in policy.observation_stamps().items() if stamp is None]
        if not silent and (video is None or video.matched()):
            return
        if refresh is not None and time.monotonic() > next_refresh:
            refresh()
            next_refresh = time.monotonic() + 2.0
        time.sleep(0.1)
    raise EvalError(f'no messages from the sim on {silent or "the video camera"} within {timeout_s:g} s')


def _wait_for_first_observation(policy, stamp_ns: int, timeout_s: float, sim: SimProcess) -> None:
    """Lockstep: until the policy node's clock and every one of its inputs show the reset
    state (stamp_ns), so that its tick 0 is that state and its first query that observation.
    The sim waits for the first command meanwhile."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        stamps = policy.observation_stamps()
        if policy.get_clock().now().nanoseconds == stamp_ns and all(stamp == stamp_ns for stamp in stamps.values()):
            return
        sim.check_alive()
        time.sleep(0.002)
    raise EvalError(f'the policy did not receive the reset state (stamp {stamp_ns} ns) within {timeout_s:g} s: '
                    f'its inputs are at {policy.observation_stamps()}, its clock at {policy.get_clock().now().nanoseconds}')


def _run_episode(config: EvalConfig, index: int, seed: int, steps: int, max_reward: float, policy,
                 monitor, video: EvalVideoNode | None, trace, sim: SimProcess) -> EpisodeOutcome:
    from act_sim.episode_runner import EpisodeError
    from act_sim.tasks import task_spec

    sim.check_alive()
    if policy.is_active:
        policy.trigger_deactivate()
    started = time.monotonic()
    try:
        first = monitor.reset_episode(config.task, seed, config.startup_timeout_s)
    except EpisodeError as error:
        sim.check_alive()
        raise EvalError(str(error)) from error
    if config.mode == 'lockstep':
        _wait_for_first_observation(policy, stamp_to_ns(first.header.stamp), config.startup_timeout_s, sim)
    if video is not None:
        video.start_frames()
    if trace is not None:
        trace.start()
    if policy.trigger_activate() != TransitionCallbackReturn.SUCCESS:
        raise EvalError(f'the policy node did not activate: {policy.status_detail}')
    # Sim time runs at real_time_factor: allow 3x the nominal wall time, plus a margin; in
    # lockstep each tick may wait for an inference.
    if config.mode == 'lockstep':
        timeout_s = steps * LOCKSTEP_TIMEOUT_S + 30.0
    else:
        timeout_s = 3.0 * steps * policy.robot.control_period_s / config.real_time_factor + 30.0
    last = monitor.wait_for_step(seed, steps, timeout_s)
    policy.trigger_deactivate()
    frames = video.take_frames() if video is not None else []
    trajectory = trace.take() if trace is not None else None
    if last is None:
        sim.check_alive()
        raise EvalError(f'episode seed {seed}: step {steps} not reached within {timeout_s:.0f} s of wall time')
    video_path = None
    if frames:
        period_ns = round(policy.robot.control_period_s * 1e9)
        video_path = str(write_video(config.video_dir / f'{config.task}_episode{index:03d}_seed{seed}.mp4',
                                     frames_on_grid(frames, period_ns), fps=policy.robot.control_rate_hz))
    trace_path = None
    if trajectory is not None:
        trace_path = str(trajectory.save(config.output_dir / f'trajectory_episode{index:03d}.npz'))
    return EpisodeOutcome(
        index=index, seed=seed, success=task_spec(config.task).success(last.episode_max_reward),
        episode_max_reward=float(last.episode_max_reward), final_reward=float(last.reward), max_reward=max_reward,
        steps=int(last.step), wall_s=time.monotonic() - started, policy=policy.stats.report(), video=video_path,
        trace=trace_path)
