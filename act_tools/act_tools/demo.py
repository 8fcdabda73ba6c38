"""`act demo`: the whole ACT pipeline on the simulated ALOHA, one stage after another.

    record  N scripted transfer-cube episodes through teleop, one rosbag2 each
            (act_tools.sim_recording: sim + scripted leader + teleop + recorder over ROS)
    convert the bags to HDF5 training episodes (act_training.conversion)
    train   ACT on them (act_training.train; config/training/cpu_demo.yaml by default,
            paper.yaml on a GPU)
    eval    the trained policy through the policy node, closed loop, against the sim in
            its own process (act_tools.evaluation)
    report  plots, a video and summary.json in <output>/report (act_tools.demo_report)

Every stage writes into its own folder of the output directory, so each result can be
inspected or reused with the single-stage commands (`act convert`, `act train`, ...).
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Callable

from act_common.errors import ActError, ConfigurationError, require_choice
from act_common.success_rate import EVAL_MODES
from act_policy_node.temporal_ensembler import WEIGHTINGS
from act_teleop.camera_compression import CAMERA_COMPRESSIONS


class DemoError(ActError, RuntimeError):
    """A stage could not produce what the next one needs; the message says which and why."""


@dataclass(frozen=True)
class DemoConfig:
    output_dir: Path = Path('demo_output')
    task: str = 'transfer_cube'
    # Scripted demonstrations to record (successful ones; failed seeds are skipped). An early
    # version of the CPU recipe reached 2/20 with 20 episodes and 8/20 with 45; what the
    # recipe reaches with 45 now, per CPU type, is in the README (Measured figures). 45 take
    # about 5 minutes to record and 33 GB of disk (raw 480x640 bags and HDF5).
    episodes: int = 45
    eval_episodes: int = 20
    # A name in act_training/config/training or a YAML path, and SECTION.FIELD=VALUE overrides.
    training_config: str = 'cpu_demo'
    training_overrides: tuple[str, ...] = ()
    # Where training and inference run: cpu or cuda.
    device: str = 'cpu'
    # On the CPU, training gets this many minutes of wall time (TrainConfig.time_budget_s):
    # the config's train.steps is an upper bound, and fewer steps are trained where a step
    # is slower (timed in the run at the end of its warmup; an AVX2-only CPU without native
    # bf16 trains about 2x slower than one with it). 0 trains the config's steps whatever
    # they cost (the CLI's default is 12 minutes).
    train_minutes: float = 0.0
    # On the CPU, a wall-clock limit for the whole demo in minutes, counted from started_at
    # (epoch seconds; None: when run_demo starts): training gets fewer than train_minutes
    # where the stages before it took longer, so that the estimated evaluation still ends in
    # time (training_minutes_left). 0: no limit. The README's promise is 30 minutes for a
    # fresh `make demo`, setup included, on either CPU type; an AVX2-only CPU records and
    # trains slower, which brought the fixed 12 minutes close to that.
    finish_within_minutes: float = 0.0
    started_at: float | None = None
    camera: str = 'top'
    # Sim seconds per wall second during evaluation (see act_tools.evaluation).
    eval_real_time_factor: float = 1.0
    # realtime (the deployment figure) or lockstep (the paper's protocol); act_tools.evaluation.
    eval_mode: str = 'realtime'
    # How the policy node executes chunks during evaluation (its ensemble_weighting
    # parameter; config/policy.yaml keeps the paper's temporal ensembling, oldest_first).
    # Chunked for the CPU recipe, measured realtime on 20 unseen seeds with three of its
    # checkpoints: 14/20 against 2/20 ensembled (1202 steps, AVX2 simulated: what an AVX2-only
    # CPU trains), 18/20 against 7/20 (2000 steps) and 14/20 against 15/20 (2992 steps, a full
    # make demo). Averaging up to 50 overlapping chunks blurs a policy that is not yet precise
    # (bench/results/recipe_screen.md, last section).
    eval_ensemble_weighting: str = 'chunked'
    # Replace an existing output folder (otherwise refuse to mix two runs).
    overwrite: bool = False
    # How the recorded bags store the camera: none (raw), png (lossless) or jpeg. Raw by
    # default: png gives the training the same frames, jpeg changes them slightly, and no
    # success rate has been measured with either yet.
    camera_compression: str = 'none'

    def __post_init__(self):
        object.__setattr__(self, 'output_dir', Path(self.output_dir))
        if self.episodes < 2:
            raise ConfigurationError(f'episodes must be >= 2 (one is held out for validation), got {self.episodes}')
        require_choice('camera_compression', self.camera_compression, CAMERA_COMPRESSIONS)
        if self.eval_episodes < 1:
            raise ConfigurationError(f'eval_episodes must be >= 1, got {self.eval_episodes}')
        if not self.train_minutes >= 0:
            raise ConfigurationError(f'train_minutes must be >= 0 (0: the config\'s steps), got {self.train_minutes}')
        if not self.finish_within_minutes >= 0:
            raise ConfigurationError(f'finish_within_minutes must be >= 0 (0: no limit), got {self.finish_within_minutes}')
        if self.started_at is not None and not self.started_at <= time.time() + 1.0:
            raise ConfigurationError(f'started_at must not be in the future, got {self.started_at} (epoch seconds)')
        require_choice('eval_mode', self.eval_mode, EVAL_MODES)
        require_choice('eval_ensemble_weighting', self.eval_ensemble_weighting, WEIGHTINGS)
        if self.device not in ('cpu', 'cuda') and not self.device.startswith('cuda:'):
            raise ConfigurationError(f'device must be cpu, cuda or cuda:N, got {self.device!r}')

    @property
    def bags_dir(self) -> Path:
        return self.output_dir / 'bags'

    @property
    def episodes_dir(self) -> Path:
        return self.output_dir / 'episodes'

    @property
    def run_dir(self) -> Path:
        return self.output_dir / 'run'

    @property
    def eval_dir(self) -> Path:
        return self.output_dir / 'eval'

    @property
    def report_dir(self) -> Path:
        return self.output_dir / 'report'


@dataclass
class DemoResult:
    config: dict
    stage_seconds: dict[str, float] = field(default_factory=dict)
    recorded_episodes: int = 0
    seeds_tried: int = 0
    converted_episodes: int = 0
    training: dict = field(default_factory=dict)
    training_curve: list[dict] = field(default_factory=list)
    evaluation: dict = field(default_factory=dict)
    report_files: dict[str, str] = field(default_factory=dict)

    @property
    def success_rate(self) -> float | None:
        return self.evaluation.get('success_rate')


# Per recorded episode: 400 frames of 480x640 rgb8 in the bag and again in the HDF5 file
# (about 370 MB each), plus joint streams and checkpoints.
BYTES_PER_EPISODE = 800 * 2**20


def prepare_output(config: DemoConfig) -> None:
    """An empty output folder with room for the run: refuse to mix two runs unless
    overwrite, and refuse to start a run the disk cannot hold."""
    out = config.output_dir
    if out.exists() and any(out.iterdir()):
        if not config.overwrite:
            raise DemoError(f'{out} already holds a run; choose another --output or pass --overwrite to replace it')
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    needed, free = config.episodes * BYTES_PER_EPISODE, shutil.disk_usage(out).free
    if free < needed:
        raise DemoError(f'{config.episodes} episodes need about {needed / 2**30:.0f} GB in {out}, and only '
                        f'{free / 2**30:.1f} GB are free: free some space, or record fewer (--episodes)')


# Nodes the demo runs in its own process: their per-episode INFO lines would bury the
# progress bars, so the console shows their warnings and errors only (the ROS log files
# under ~/.ros/log still get everything).
QUIET_NODES = ('sim_node', 'scripted_leader', 'scripted_episodes', 'teleop', 'recorder', 'policy_node')


def quiet_node_logs() -> None:
    import rclpy.logging

    for name in QUIET_NODES:
        rclpy.logging.set_logger_level(name, rclpy.logging.LoggingSeverity.WARN)


# The evaluation's wall time beyond its episodes' sim time, and the report's: 164 s for 20
# realtime episodes of 8 s (make demo at 9142c05), plus a margin for a slower machine.
EVAL_OVERHEAD_S = 60.0


def eval_seconds_estimate(config: DemoConfig) -> float:
    """Wall seconds the evaluation and report should take: the episodes' sim time (at the
    real-time factor in realtime mode; lockstep runs about as fast on 2 cores) plus
    EVAL_OVERHEAD_S."""
    from act_common.config_paths import robot_config_path
    from act_common.robot_config import load_robot_config
    from act_sim.tasks import task_spec

    period_s = load_robot_config(robot_config_path('aloha_sim')).control_period_s
    episode_s = task_spec(config.task).episode_length * period_s
    if config.eval_mode == 'realtime' and config.eval_real_time_factor > 0:
        episode_s /= config.eval_real_time_factor
    return config.eval_episodes * episode_s + EVAL_OVERHEAD_S


def training_minutes_left(train_minutes: float, finish_within_minutes: float, elapsed_s: float,
                          eval_s: float) -> float:
    """Minutes of training wall time (TrainConfig.time_budget_s, which the trainer keeps to
    from its own measured costs): train_minutes, or less when the limit of
    finish_within_minutes (0: none), after elapsed_s already spent and eval_s still to
    come, leaves less. 0 when nothing is left."""
    if finish_within_minutes <= 0:
        return train_minutes
    left_s = 60.0 * finish_within_minutes - elapsed_s - eval_s
    return max(0.0, min(train_minutes, left_s / 60.0))


def run_demo(config: DemoConfig, say: Callable[[str], None] = print) -> DemoResult:
    """Runs every stage; returns what each produced (also in report/summary.json)."""
    quiet_node_logs()
    # Resolved before recording, so that a bad override or missing backbone weights fail
    # at once, not after minutes of recording.
    configs = training_configs(config)
    prepare_output(config)
    result = DemoResult(config={k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()})
    started = time.monotonic()
    # The limit counts from the caller's start (make demo's setup) where it says one.
    started_at = config.started_at if config.started_at is not None else time.time()
    for stage, run in (('record', _record), ('convert', _convert),
                       ('train', partial(_train, configs=configs, started_at=started_at)),
                       ('eval', _evaluate), ('report', _report)):
        say(f'\n== {stage} ==')
        stage_start = time.monotonic()
        run(config, result, say)
        result.stage_seconds[stage] = round(time.monotonic() - stage_start, 1)
        say(f'{stage}: {result.stage_seconds[stage]:.0f} s')
    result.stage_seconds['total'] = round(time.monotonic() - started, 1)
    _write_summary(config, result)
    return result


def _record(config: DemoConfig, result: DemoResult, say) -> None:
    from tqdm import tqdm

    from act_tools.sim_recording import SimRecordingConfig, record_sim_episodes

    # Rendered with act_sim.rendering.RenderSettings' defaults (no shadows); the episodes
    # record them and the evaluation renders with the checkpoint's copy.
    recording = SimRecordingConfig(task=config.task, episodes=config.episodes, output_dir=config.bags_dir,
                                   cameras=(config.camera,), camera_compression=config.camera_compression)
    bar = tqdm(total=config.episodes, unit='episode', desc='record', dynamic_ncols=True)

    def on_episode(outcome, kept):
        result.seeds_tried += 1
        if kept:
            bar.update(1)
        else:
            bar.write(f'  seed {outcome.seed}: not kept ({outcome.summary()})')

    try:
        records = record_sim_episodes(recording, on_episode)
    finally:
        bar.close()
    result.recorded_episodes = len(records)
    if len(records) < 2:
        raise DemoError(f'record: only {len(records)} usable episodes from {result.seeds_tried} seeds; '
                        'training needs at least 2')
    if len(records) < config.episodes:
        say(f'record: {len(records)} of {config.episodes} episodes kept after {result.seeds_tried} seeds; going on')


def _convert(config: DemoConfig, result: DemoResult, say) -> None:
    from tqdm import tqdm

    from act_common.robot_config import load_robot_config
    from act_training.conversion import ConversionConfig, convert_episodes
    from act_training.conversion.converter import find_episode_bags

    from act_common.config_paths import robot_config_path

    bags = find_episode_bags([config.bags_dir])
    conversion = ConversionConfig(bags=tuple(bags), output_dir=config.episodes_dir,
                                  robot=load_robot_config(robot_config_path('aloha_sim')), default_task=config.task)
    with tqdm(total=len(bags), unit='episode', desc='convert', dynamic_ncols=True) as bar:
        def on_result(episode):
            if episode.status != 'converted':
                bar.write(f'  {episode.summary()}')
            bar.update(1)

        report = convert_episodes(conversion, on_result)
    result.converted_episodes = len(report.converted)
    if result.converted_episodes < 2:
        raise DemoError(f'convert: {result.converted_episodes} episodes converted of {len(bags)}; training needs 2')


def training_configs(config: DemoConfig):
    """(ModelConfig, TrainConfig) of the demo; raises ConfigError or BackboneWeightsError
    (with what to do) when the overrides are wrong or the backbone weights cannot be loaded."""
    from act_training.config import load_training_configs
    from act_training.model.backbone import ResNet18Features, load_backbone_weights

    from act_tools.paths import training_config_path

    overrides = [f'train.device={config.device}', f'model.camera_names=[{config.camera}]', *config.training_overrides]
    model_config, train_config = load_training_configs(training_config_path(config.training_config), overrides)
    load_backbone_weights(ResNet18Features(), model_config.backbone_weights)
    return model_config, train_config


def with_time_budget(config: DemoConfig, train_config, started_at: float, say):
    """train_config with the demo's training wall time as its time_budget_s (on the CPU with
    train_minutes > 0; otherwise unchanged): train_minutes, or what finish_within_minutes
    leaves after the time since started_at (epoch seconds) and the evaluation to come."""
    if config.device != 'cpu' or config.train_minutes <= 0:
        return train_config
    minutes = config.train_minutes
    if config.finish_within_minutes > 0:
        elapsed_s, eval_s = time.time() - started_at, eval_seconds_estimate(config)
        minutes = training_minutes_left(config.train_minutes, config.finish_within_minutes, elapsed_s, eval_s)
        if minutes < 0.99 * config.train_minutes:  # worth saying
            say(f'train: {minutes:.1f} of {config.train_minutes:g} min, so that the demo ends within '
                f'{config.finish_within_minutes:g} min ({elapsed_s / 60:.1f} min gone, the evaluation about '
                f'{eval_s / 60:.1f} min)')
        if minutes <= 0:
            say(f'train: warning: no time is left within {config.finish_within_minutes:g} min; training the '
                'warmup alone, and the demo will run over')
    return replace(train_config, time_budget_s=max(60.0 * minutes, 1.0))


def _train(config: DemoConfig, result: DemoResult, say, *, configs, started_at: float) -> None:
    from tqdm import tqdm

    import torch

    from act_common.cpu_features import cpu_features
    from act_training.train import train
    from act_training.train.step_time import uses_bf16
    from act_training.train.trainer import blind_warning, budget_fit_step

    model_config, train_config = configs
    train_config = with_time_budget(config, train_config, started_at, say)
    precision = 'bf16 autocast' if uses_bf16(train_config, torch.device(config.device)) else 'fp32'
    length = (f'as many of {train_config.steps} steps as fit {train_config.time_budget_s / 60:.3g} min (timed in the '
              f'run at step {budget_fit_step(train_config)})' if train_config.time_budget_s > 0
              else f'{train_config.steps} steps')
    say(f'train: {config.training_config} config, {length}, batch {train_config.batch_size}, '
        f'{model_config.image_height}x{model_config.image_width} images, chunk {model_config.chunk_size}, '
        f'on {config.device}, {precision} ({cpu_features().describe()})')
    bar = tqdm(total=train_config.steps, unit='step', desc='train', dynamic_ncols=True)

    def on_progress(progress):
        result.training_curve.append({'step': progress.step, 'loss': progress.loss, 'l1': progress.l1,
                                      'kl': progress.kl, 'lr': progress.lr, 'val_l1': progress.val_l1})
        bar.total = progress.total_steps  # a time budget fixes the run's length after the warmup
        bar.set_postfix(l1=f'{progress.l1:.3f}', kl=f'{progress.kl:.3f}',
                        val_l1='-' if progress.val_l1 is None else f'{progress.val_l1:.3f}', refresh=False)
        bar.update(progress.step - bar.n)

    try:
        trained = train(model_config, train_config, config.episodes_dir, config.run_dir, progress=on_progress)
    finally:
        bar.close()
    if trained.time_budget is not None:
        fit = trained.time_budget
        later = (f'; shortened to {fit["steps"]} from step {fit["last_shortened_at"]}, where steps took '
                 f'{fit["step_s_then"]:.3f} s' if 'last_shortened_at' in fit else '')
        say(f'train: {fit["first_fit"]} steps fit {train_config.time_budget_s / 60:.3g} min, as measured in the run at '
            f'step {fit["at_step"]} ({fit["elapsed_s"]:.0f} s gone, loading the frames included; {fit["step_s"]:.3f} s '
            f'per step, {fit["validation_s"]:.1f} s per validation, {fit["checkpoint_s"]:.1f} s per checkpoint){later}; '
            f'training took {trained.seconds:.0f} s')
    warning = blind_warning(trained.final_probe_l1)
    if warning is not None:
        say(f'train: warning: {warning}')
    result.training = {
        'steps': trained.steps, 'seconds': round(trained.seconds, 1), 'samples_per_s': round(trained.samples_per_s, 2),
        'precision': precision, 'time_budget_s': train_config.time_budget_s, 'time_budget_fit': trained.time_budget,
        'probe_l1': trained.final_probe_l1,
        'final_train_l1': trained.final_train_l1, 'best_val_l1': trained.best_val_l1, 'best_step': trained.best_step,
        'train_episodes': len(trained.train_episodes), 'val_episodes': len(trained.val_episodes),
        # The last weights are evaluated: with few validation episodes the "best" one is noise.
        'checkpoint': str(trained.last_checkpoint),
    }


def _evaluate(config: DemoConfig, result: DemoResult, say) -> None:
    from tqdm import tqdm

    from act_tools.evaluation import EvalConfig, EvalError, evaluate

    evaluation = EvalConfig(checkpoint=Path(result.training['checkpoint']), task=config.task,
                            episodes=config.eval_episodes, device=config.device,
                            mode=config.eval_mode, real_time_factor=config.eval_real_time_factor,
                            policy_parameters={'ensemble_weighting': config.eval_ensemble_weighting},
                            output_dir=config.eval_dir,
                            video_dir=config.report_dir, video_camera=config.camera, video_episodes=1,
                            trace_episodes=1)
    successes = 0
    with tqdm(total=config.eval_episodes, unit='episode', desc='eval', dynamic_ncols=True) as bar:
        def on_episode(outcome):
            nonlocal successes
            successes += outcome.success
            bar.set_postfix(successes=successes, refresh=False)
            bar.update(1)

        try:
            report = evaluate(evaluation, progress=bar.write, on_episode=on_episode)
        except EvalError as error:
            raise DemoError(f'eval: {error}') from error
    say(report.table())
    result.evaluation = report.to_dict()


def _report(config: DemoConfig, result: DemoResult, say) -> None:
    from act_tools import demo_report

    report_dir = config.report_dir
    files = {'training_curves': demo_report.plot_training_curves(result.training_curve,
                                                                 report_dir / 'training_curves.png')}
    episodes = result.evaluation['per_episode']
    files['success_per_episode'] = demo_report.plot_success(episodes, report_dir / 'success_per_episode.png')
    traced = [e for e in episodes if e.get('trace')]
    if traced:
        files['trajectories'] = demo_report.plot_trajectory(Path(traced[0]['trace']), report_dir / 'trajectories.png',
                                                            title=f'episode {traced[0]["index"]} (seed {traced[0]["seed"]})')
    filmed = [e for e in episodes if e.get('video')]
    if filmed:
        files['video'] = filmed[0]['video']
    result.report_files = {name: str(path) for name, path in files.items()}


def _write_summary(config: DemoConfig, result: DemoResult) -> Path:
    path = config.report_dir / 'summary.json'
    path.parent.mkdir(parents=True, exist_ok=True)
    data = asdict(result)
    data['success_rate'] = result.success_rate
    path.write_text(json.dumps(data, indent=2, default=str) + '\n')
    return path
