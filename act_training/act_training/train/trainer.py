"""The training run: data checked and loaded, the model trained, validated and checkpointed.

`train()` is the API (`act train` and the end-to-end demo call it). Under `torchrun` it
trains with DDP: every rank computes its part of each global batch, rank 0 alone
validates, logs and writes checkpoints.

Exact resume: the samples of step k and the random numbers it draws (dropout, the CVAE
noise) depend only on (seed, rank, k): the generator is reseeded from them before every
step. So the RNG state at step k needs no saving to be restored, and together with the
weights, the optimizer and the scheduler state of the `last` checkpoint, a resumed run
computes what the uninterrupted run computes.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Callable, Union

import numpy as np
import torch

from act_common.errors import ActError
from act_training.config import RESUMABLE_TRAIN_FIELDS, ModelConfig, TrainConfig
from act_training.data.chunks import StepSampler
from act_training.data.dataset import TrainingData, prepare_training_data
from act_training.data.images import normalize_images
from act_training.model.act import ActModel, build_model
from act_training.model.backbone import load_backbone_weights
from act_training.train.allocator import keep_freed_memory
from act_training.train.batch_loss import forward_loss
from act_training.train.checkpoint import (TrainingState, load_checkpoint, load_training_state, resolve_checkpoint_dir,
                                           save_checkpoint, CheckpointError)
from act_training.train.distributed import DistContext, setup_distributed, teardown_distributed
from act_training.train.step_time import LoopCosts, autocast_for, steps_within_budget, uses_bf16
from act_training.train.optim import build_optimizer, build_scheduler, flush_denormals, load_optimizer_state

log = logging.getLogger('act_training')

LAST = 'last'
BEST = 'best'


def snapshot_name(step: int) -> str:
    """The folder of the weights kept at `step` (TrainConfig.snapshot_steps)."""
    return f'step_{step:06d}'


class TrainingError(ActError, RuntimeError):
    """Training cannot start or continue (diverged, output folder in use, resume mismatch)."""


@dataclass
class TrainProgress:
    step: int  # steps completed
    total_steps: int
    loss: float  # mean over the steps since the previous report
    l1: float
    kl: float
    lr: float
    samples_per_s: float
    val_l1: float | None  # latest validation L1, if any yet
    image_aux: float = 0.0  # loss of the image-only auxiliary head (ModelConfig.image_aux_weight); 0 without it


@dataclass
class TrainResult:
    output_dir: Path
    last_checkpoint: Path
    best_checkpoint: Path | None  # None when there are no validation episodes
    steps: int
    final_val_l1: float | None  # validation L1 of the final weights
    best_val_l1: float | None
    best_step: int | None
    final_train_l1: float
    # The vision diagnostic at the last validation (probe_l1): {'t0': ..., 'mid': ..., 't0_spread': ...}.
    final_probe_l1: dict[str, float]
    train_episodes: tuple[str, ...]
    val_episodes: tuple[str, ...]
    seconds: float
    samples_per_s: float
    # How TrainConfig.time_budget_s was applied, None without one (or on a resume past the
    # fit step): the first fit ('at_step', 'elapsed_s', 'step_s', 'validation_s',
    # 'checkpoint_s', 'first_fit'), the final 'steps', and where a later check shortened the
    # run, the last one ('last_shortened_at', 'step_s_then').
    time_budget: dict[str, float] | None = None


ProgressArg = Union[str, None, Callable[[TrainProgress], None]]


def _step_seed(seed: int, rank: int, step: int) -> int:
    return int(np.random.SeedSequence([seed, rank, step]).generate_state(1, dtype=np.uint64)[0] >> 1)


def _check_resume_configs(saved_model: ModelConfig, saved_train: TrainConfig, model_config: ModelConfig,
                          train_config: TrainConfig) -> TrainConfig:
    """The run being resumed defines the model and the optimization; only the fields in
    RESUMABLE_TRAIN_FIELDS may change. Returns the train config to continue with: a run
    with a time budget keeps the length it fit (TrainConfig.time_budget_s) unless given fewer."""
    differences = []
    for f in fields(ModelConfig):
        given, saved = getattr(model_config, f.name), getattr(saved_model, f.name)
        unresolved = (f.name == 'camera_names' and not given) or (f.name in ('state_dim', 'action_dim') and given is None)
        if given != saved and not unresolved:
            differences.append(f'model.{f.name}: checkpoint {saved!r}, given {given!r}')
    for f in fields(TrainConfig):
        given, saved = getattr(train_config, f.name), getattr(saved_train, f.name)
        if given != saved and f.name not in RESUMABLE_TRAIN_FIELDS:
            differences.append(f'train.{f.name}: checkpoint {saved!r}, given {given!r}')
    if differences:
        raise TrainingError('--resume continues the saved run, whose config differs: ' + '; '.join(differences)
                            + f'. Only {sorted(RESUMABLE_TRAIN_FIELDS)} may change.')
    resumed = replace(saved_train, **{name: getattr(train_config, name) for name in RESUMABLE_TRAIN_FIELDS})
    if saved_train.time_budget_s > 0 and train_config.time_budget_s > 0:
        # train.steps is an upper bound there, and the saved run already fit its length in it.
        resumed = replace(resumed, steps=min(saved_train.steps, train_config.steps))
    return resumed


# Where TrainConfig.time_budget_s is applied in a run without warmup: early, so that little
# of the cosine schedule has run under the upper bound's length, after enough steps to time.
FIT_STEP_WITHOUT_WARMUP = 50


def budget_fit_step(config: TrainConfig) -> int:
    """The step at which TrainConfig.time_budget_s is first applied: the end of the warmup."""
    return min(config.steps, config.warmup_steps or FIT_STEP_WITHOUT_WARMUP)


class _BudgetFit:
    """TrainConfig.time_budget_s, applied with the run's own timing: first at fit_step, the
    end of the warmup, where the cosine has not started, so that the new length changes no
    step already taken; then at every later validation or checkpoint, where the run is only
    ever shortened, its cosine then spanning the new length. A step can get slower as a run
    goes on: 0.15 s at step 100 and 0.20 s from step 2000 on, on the AMX Xeon, before
    optim.flush_denormals; the run overran its 720 s by 16 %."""

    def __init__(self, fit_step: int, measure_from: int, start_step: int):
        self.fit_step = fit_step
        # The loop's own time per step is measured from window_step (at window_started).
        self.window_step = measure_from
        self.window_started = time.monotonic() if measure_from == start_step else None
        self.costs: LoopCosts | None = None  # set by the first fit
        self.record: dict[str, float] | None = None  # TrainResult.time_budget

    @classmethod
    def for_run(cls, config: TrainConfig, start_step: int) -> '_BudgetFit | None':
        """None without a budget, or where the run starts (resumes) at or past the fit step."""
        if config.time_budget_s <= 0:
            return None
        fit_step = budget_fit_step(config)
        if start_step >= fit_step or fit_step >= config.steps:
            return None
        # The first steps are left out of the timing: oneDNN picks and caches kernels on them.
        return cls(fit_step, start_step + min(10, (fit_step - start_step) // 2), start_step)

    def at_fit_step(self, done: int) -> bool:
        return done == self.fit_step

    def rechecks(self, done: int) -> bool:
        return self.costs is not None and done > self.fit_step

    def after_step(self, done: int) -> None:
        if self.window_started is None and done == self.window_step:
            self.window_started = time.monotonic()

    def restart(self, done: int) -> None:
        """The loop's timing starts again after step `done` (its validation and saving)."""
        self.window_step, self.window_started = done, time.monotonic()

    def step_seconds(self, done: int, now: float) -> float:
        """Mean wall seconds per step since the timing started (loading and logging included)."""
        return (now - self.window_started) / (done - self.window_step)


class _Reporter:
    """Progress bar, TensorBoard scalars and the progress callback (rank 0 only)."""

    def __init__(self, progress: ProgressArg, output_dir: Path, config: TrainConfig, start_step: int):
        self.callback = progress if callable(progress) else None
        self.bar = None
        if progress == 'bar':
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=config.steps, initial=start_step, desc='act train', unit='step', dynamic_ncols=True)
            except ImportError:
                log.info('tqdm is not installed: progress is logged instead of shown as a bar')
        self.log_lines = progress == 'bar' and self.bar is None
        self.writer = None
        if config.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(output_dir / 'tensorboard'))
            except ImportError:
                log.warning('tensorboard is not installed: no TensorBoard scalars for this run')

    def total_steps(self, steps: int) -> None:
        """The run's length changed (TrainConfig.time_budget_s)."""
        if self.bar is not None:
            self.bar.total = steps
            self.bar.refresh()

    def train(self, report: TrainProgress) -> None:
        if self.writer is not None:
            for name, value in (('train/loss', report.loss), ('train/l1', report.l1), ('train/kl', report.kl),
                                ('train/lr', report.lr), ('perf/samples_per_s', report.samples_per_s)):
                self.writer.add_scalar(name, value, report.step)
            if report.image_aux:
                self.writer.add_scalar('train/image_aux', report.image_aux, report.step)
        if self.bar is not None:
            self.bar.set_postfix(loss=f'{report.loss:.4f}', l1=f'{report.l1:.4f}', kl=f'{report.kl:.4f}',
                                 samples_s=f'{report.samples_per_s:.1f}',
                                 val_l1='-' if report.val_l1 is None else f'{report.val_l1:.4f}', refresh=False)
            self.bar.update(report.step - self.bar.n)
        if self.log_lines:
            log.info('step %d/%d loss %.4f l1 %.4f kl %.4f lr %.2e %.1f samples/s', report.step, report.total_steps,
                     report.loss, report.l1, report.kl, report.lr, report.samples_per_s)
        if self.callback is not None:
            self.callback(report)

    def validation(self, step: int, val_l1: float, probe: dict[str, float]) -> None:
        if self.writer is not None:
            self.writer.add_scalar('val/l1', val_l1, step)
            for name, value in _probe_metrics(probe).items():
                self.writer.add_scalar(name.replace('val_', 'val/', 1), value, step)
        message = f'step {step}: validation L1 {val_l1:.4f}'
        if probe:
            message += ' (first chunk at t = 0: ' + f"{probe.get('t0', math.nan):.4f}, mid-episode: {probe.get('mid', math.nan):.4f}"
            if 't0_spread' in probe:
                message += f"; t = 0 chunks differ between episodes {probe['t0_spread']:.2f} as much as demonstrated"
            message += ')'
        if self.bar is not None:
            self.bar.write(message)
        else:
            log.info(message)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.writer is not None:
            self.writer.close()


@torch.no_grad()
def validate(model: ActModel, data: TrainingData, batch_size: int, device: torch.device, autocast) -> float:
    """L1 of the inference path (z = 0, dropout off) on the held-out samples, averaged over
    all entries like the training L1. Departs from the paper's code, which validates with
    z drawn from the CVAE posterior (it sees the target actions): this measures the
    policy that will run."""
    model.eval()
    total, count = 0.0, 0
    try:
        for start in range(0, len(data.val_frames), batch_size):
            batch = data.source.batch(data.val_frames[start:start + batch_size]).to(device)
            with autocast():
                predicted = model(normalize_images(batch.images), batch.qpos).actions
            errors = (predicted.float() - batch.actions).abs() * (~batch.is_pad)[..., None]  # (B, S, D)
            total += float(errors.sum())
            count += errors.numel()
    finally:
        model.train()
    return total / count


def chunk_spread_ratio(predicted: torch.Tensor, demonstrated: torch.Tensor) -> float:
    """How much the predicted chunks differ between episodes, as a fraction of how much the
    demonstrated ones do: the mean over (row, joint) of the std across episodes, predicted
    over demonstrated. predicted, demonstrated: (E, S, Da) chunks of E >= 2 episodes at the
    same step, in the same units. 0 means one chunk whatever the episode; NaN where the
    demonstrations do not differ either.

    At t = 0 every episode starts from the same qpos, so only the image can make the chunks
    differ: a ratio near 0 there is a policy that does not look, whatever its L1. Most
    from-scratch CPU runs of the demo recipe end there (bench/results/recipe_screen.md,
    "Why most runs fail")."""
    if predicted.shape != demonstrated.shape or predicted.dim() != 3 or predicted.shape[0] < 2:
        raise ValueError(f'need (E >= 2, S, Da) chunks of one shape, got {tuple(predicted.shape)} and '
                         f'{tuple(demonstrated.shape)}')
    spread = demonstrated.float().std(dim=0).mean()
    if float(spread) == 0.0:
        return math.nan
    return float(predicted.float().std(dim=0).mean() / spread)


@torch.no_grad()
def probe_l1(model: ActModel, data: TrainingData, device: torch.device, autocast) -> dict[str, float]:
    """The vision diagnostic: inference-path L1 (action std units, non-padded entries) of
    the chunk predicted at t = 0 of each validation episode ('t0') and at mid-episode
    steps ('mid'); data.dataset.validation_probe_frames says why. With two validation
    episodes or more, also 't0_spread': chunk_spread_ratio of the t = 0 chunks (rows
    padded in any episode left out). {} without validation."""
    model.eval()
    errors = {}
    try:
        for name, frames in data.probe_frames.items():
            if len(frames) == 0:
                continue
            batch = data.source.batch(frames).to(device)
            with autocast():
                predicted = model(normalize_images(batch.images), batch.qpos).actions
            keep = (~batch.is_pad)[..., None]  # (B, S, 1)
            errors[name] = float(((predicted.float() - batch.actions).abs() * keep).sum() / (keep.sum() * predicted.shape[-1]))
            if name == 't0' and len(frames) >= 2:
                rows = keep[..., 0].all(dim=0)  # (S,) rows no episode pads
                errors['t0_spread'] = chunk_spread_ratio(predicted[:, rows], batch.actions[:, rows])
    finally:
        model.train()
    return errors


# Below this t0_spread a policy is taken as not looking at its cameras. Measured on the CPU
# recipe screen (bench/results/recipe_screen.md): 0.000 on every run that solved 0 or 1 of
# 30 unseen seeds; 0.12 and 0.45 on two that solved 6/30 and 11/30; 1.13 and 1.20 on the
# two with smooth L1 and the image-only auxiliary head (26/30, 25/30).
BLIND_T0_SPREAD = 0.05


def blind_warning(probe: dict[str, float]) -> str | None:
    """A warning in words when probe_l1's t0_spread says the policy ignores its cameras;
    None when it does not, or when there was no spread to measure (fewer than 2 validation
    episodes)."""
    spread = probe.get('t0_spread')
    if spread is None or not spread < BLIND_T0_SPREAD:
        return None
    return (f'the chunks predicted at t = 0 of the validation episodes differ {spread:.3f} as much as the '
            f'demonstrated ones (under {BLIND_T0_SPREAD}): the policy does not use its cameras, and will go '
            f'to the same place whatever the scene (README, Task success of the CPU recipe)')


# probe_l1's names -> the checkpoint metrics and TensorBoard scalars that carry them.
PROBE_METRICS = {'t0': 'val_l1_t0', 'mid': 'val_l1_mid', 't0_spread': 'val_t0_spread'}


def _probe_metrics(probe: dict[str, float]) -> dict[str, float]:
    """The vision probe (probe_l1) as checkpoint metrics: val_l1_t0, val_l1_mid, val_t0_spread."""
    return {PROBE_METRICS[name]: value for name, value in probe.items()}


def train(model_config: ModelConfig, train_config: TrainConfig, data_dir: str | Path, output_dir: str | Path, *,
          progress: ProgressArg = 'bar', resume: bool = False) -> TrainResult:
    """Trains ACT on the episodes in data_dir; checkpoints go to output_dir/last (resumable,
    every train.checkpoint_every steps and at the end) and output_dir/best (lowest
    validation L1). data_dir: episode_<index>.hdf5 files (ACT or ALOHA 2 layout) or a
    LeRobotDataset v3.0 folder (conversion.lerobot_import).

    progress: 'bar' (a tqdm bar), None (silent), or a callable receiving a TrainProgress
    every train.log_every steps. resume: continue the run in output_dir/last exactly.
    Nothing is written before the whole data set has been checked."""
    from act_training.conversion.lerobot_import import training_data_dir

    # A LeRobotDataset folder is decoded once into HDF5 episodes under the run folder.
    data_dir = training_data_dir(Path(data_dir), Path(output_dir))
    context = setup_distributed(train_config.device)
    try:
        return _train(model_config, train_config, Path(data_dir), Path(output_dir), progress, resume, context)
    finally:
        teardown_distributed(context)


def _train(model_config: ModelConfig, train_config: TrainConfig, data_dir: Path, output_dir: Path,
           progress: ProgressArg, resume: bool, context: DistContext) -> TrainResult:
    started = time.monotonic()
    device = context.device
    if device.type == 'cpu':
        # This thread at least; the worker threads where the caller set it first (`act train`).
        flush_denormals()
        keep_freed_memory()  # the whole process's malloc (train.allocator says why)
    last_dir, best_dir = output_dir / LAST, output_dir / BEST

    saved = state = None
    if resume:
        try:
            saved = load_checkpoint(resolve_checkpoint_dir(last_dir))
        except CheckpointError as error:
            raise TrainingError(f'--resume: {error}') from error
        state = load_training_state(saved.path)
        train_config = _check_resume_configs(saved.model_config, saved.train_config, model_config, train_config)
        model_config = saved.model_config
        if state.step >= train_config.steps:
            raise TrainingError(f'--resume: {saved.path} is at step {state.step}, train.steps is {train_config.steps}: '
                                'nothing left to train (raise train.steps to continue)')
    elif (last_dir / 'config.json').exists() or (output_dir / f'.{LAST}.prev').exists():
        raise TrainingError(f'{output_dir} already holds a training run ({last_dir}); pass --resume to continue it '
                            'or choose another output folder')

    data = prepare_training_data(data_dir, model_config, train_config, device=device, world_size=context.world_size,
                                 resume_info=saved.dataset if saved else None,
                                 resume_normalization=saved.normalization if saved else None)
    model_config = data.model_config
    if context.is_main:
        log.info('episodes: %d for training (%d samples), %d for validation; cameras %s at %dx%d; %s',
                 len(data.info.train_episodes), len(data.train_frames), len(data.info.val_episodes),
                 list(model_config.camera_names), *model_config.image_size, 'in memory' if data.in_memory else 'lazy')

    torch.manual_seed(train_config.seed)  # the initial weights, identical on every rank
    model = build_model(model_config)
    if saved is not None:
        model.load_state_dict(saved.state_dict)
    else:
        message = load_backbone_weights(model.backbone, model_config.backbone_weights)
        if context.is_main:
            log.info(message)
    if train_config.backbone_lr == 0:
        model.backbone.requires_grad_(False)
    model.to(device)
    on_cuda = device.type == 'cuda'
    model.use_channels_last()
    if on_cuda:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    optimizer = build_optimizer(model, train_config, device)
    scheduler = build_scheduler(optimizer, train_config)
    start_step, best_val_l1, best_step, elapsed_before = 0, None, None, 0.0
    if state is not None:
        load_optimizer_state(optimizer, state.optimizer)
        scheduler.load_state_dict(state.scheduler)
        start_step, best_val_l1, best_step, elapsed_before = state.step, state.best_val_l1, state.best_step, state.elapsed_s

    trained = model
    if context.distributed:
        # broadcast_buffers off: the only buffers are frozen BatchNorm statistics and
        # constant position tables, identical on every rank.
        trained = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if on_cuda else None, broadcast_buffers=False)

    use_bf16 = uses_bf16(train_config, device)
    if context.is_main:
        log.info('training precision: %s', 'bf16 autocast' if use_bf16 else 'fp32')
    autocast = autocast_for(use_bf16, device)

    sampler = StepSampler(data.train_frames, train_config.batch_size, train_config.seed)
    reporter = _Reporter(progress, output_dir, train_config, start_step) if context.is_main else None
    val_l1, probe = None, {}
    has_val = len(data.val_frames) > 0

    def save(step: int, final: bool) -> None:
        if not context.is_main:
            return
        training_state = TrainingState(step=step, optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict(),
                                       best_val_l1=best_val_l1, best_step=best_step,
                                       elapsed_s=elapsed_before + time.monotonic() - started)
        save_checkpoint(last_dir, state_dict=model.state_dict(), model_config=model_config, train_config=train_config,
                        dataset=data.info, normalization=data.normalization, step=step,
                        metrics={'train_l1': window_l1, 'val_l1': val_l1, 'best_val_l1': best_val_l1, 'final': final,
                                 **_probe_metrics(probe)},
                        training_state=training_state)

    window_sums = torch.zeros(4, device=device)  # loss, l1, kl, image_aux summed since the last report
    window_steps, window_start, window_l1 = 0, time.monotonic(), math.nan
    samples_seen, train_time = 0, 0.0
    last_saved = start_step
    per_rank_batch = train_config.batch_size // context.world_size
    step = start_step
    budget = _BudgetFit.for_run(train_config, start_step)

    def fit_to_budget(done: int, costs: LoopCosts, spent_s: float, first: bool) -> None:
        """Applies the time budget at step `done`: the first time to any length within
        train.steps, later only to a shorter one. spent_s: wall time still to come at this
        step (its checkpoint), counted as spent."""
        nonlocal train_config, scheduler
        budget.costs = costs
        elapsed_s = elapsed_before + time.monotonic() - started + spent_s
        steps = context.from_main(steps_within_budget(
            train_config.time_budget_s, elapsed_s, done, costs, train_config.steps,
            train_config.val_every if has_val else 0, train_config.checkpoint_every))
        if first:
            budget.record = {'at_step': done, 'elapsed_s': round(elapsed_s, 1), 'step_s': round(costs.step_s, 4),
                             'validation_s': round(costs.validation_s, 2),
                             'checkpoint_s': round(costs.checkpoint_s, 2), 'steps': steps, 'first_fit': steps}
            if context.is_main:
                log.info('time budget %.0f s: %d of at most %d steps fit (%.1f s gone at step %d; %.3f s per step, '
                         '%.1f s per validation, %.1f s per checkpoint, measured in this run)',
                         train_config.time_budget_s, steps, train_config.steps, elapsed_s, done, costs.step_s,
                         costs.validation_s, costs.checkpoint_s)
        elif steps < train_config.steps - max(1, train_config.steps // 100):  # shorter by over 1 %
            budget.record.update(steps=steps, last_shortened_at=done, step_s_then=round(costs.step_s, 4))
            if context.is_main:
                log.info('time budget: steps now %.3f s each: %d steps instead of %d fit, from step %d',
                         costs.step_s, steps, train_config.steps, done)
        else:
            return
        if steps != train_config.steps:
            train_config = replace(train_config, steps=steps)
            scheduler = build_scheduler(optimizer, train_config, done=done)
            if reporter is not None:
                reporter.total_steps(steps)
    try:
        trained.train()
        for step, batch in data.source.iterate(sampler, range(start_step, train_config.steps), context.rank, context.world_size):
            torch.manual_seed(_step_seed(train_config.seed, context.rank, step))
            batch = batch.to(device, non_blocking=True)
            terms = forward_loss(trained, batch, model_config, autocast, train_config.qpos_noise_std,
                                 train_config.image_shift, train_config.qpos_dropout)
            optimizer.zero_grad(set_to_none=True)
            terms.loss.backward()
            if train_config.grad_clip_norm > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), train_config.grad_clip_norm)
            optimizer.step()
            scheduler.step()
            window_sums += torch.stack((terms.loss.detach(), terms.l1.detach(), terms.kl.detach(),
                                        terms.image_aux.detach())).float()
            window_steps += 1
            done = step + 1
            final = done == train_config.steps
            fitting = budget is not None and budget.at_fit_step(done)
            # At the fit step the run validates and saves once, so that both are timed.
            validating = has_val and train_config.val_every > 0 and (done % train_config.val_every == 0 or final
                                                                      or fitting)
            checkpointing = done % train_config.checkpoint_every == 0 or final or fitting
            if done % train_config.log_every == 0 or final or validating or checkpointing:
                loss, l1, kl, image_aux = (window_sums / window_steps).tolist()
                if not all(math.isfinite(v) for v in (loss, l1, kl)):
                    raise TrainingError(f'training diverged: loss {loss} (l1 {l1}, kl {kl}) between steps '
                                        f'{done - window_steps} and {done}; the last checkpoint (step {last_saved}) is kept')
                now = time.monotonic()
                rate = window_steps * train_config.batch_size / (now - window_start)
                train_time += now - window_start
                samples_seen += window_steps * train_config.batch_size
                window_l1 = l1
                if reporter is not None:
                    reporter.train(TrainProgress(done, train_config.steps, loss, l1, kl, scheduler.get_last_lr()[0], rate,
                                                 val_l1, image_aux))
                window_sums.zero_()
                window_steps = 0
                window_start = now
            parts_started = time.monotonic()
            if validating:
                if context.is_main:
                    val_l1 = validate(model, data, per_rank_batch, device, autocast)
                    probe = probe_l1(model, data, device, autocast)
                    reporter.validation(done, val_l1, probe)
                    if best_val_l1 is None or val_l1 < best_val_l1:
                        best_val_l1, best_step = val_l1, done
                        save_checkpoint(best_dir, state_dict=model.state_dict(), model_config=model_config,
                                        train_config=train_config, dataset=data.info, normalization=data.normalization,
                                        step=done, metrics={'val_l1': val_l1, 'train_l1': window_l1,
                                                            **_probe_metrics(probe)})
                context.barrier()
            validated = time.monotonic()
            if budget is not None and budget.rechecks(done) and (validating or checkpointing) and not final:
                fit_to_budget(done, LoopCosts(budget.step_seconds(done, parts_started),
                                              validated - parts_started if validating else budget.costs.validation_s,
                                              budget.costs.checkpoint_s),
                              spent_s=budget.costs.checkpoint_s if checkpointing else 0.0, first=False)
            if done in train_config.snapshot_steps and context.is_main:
                save_checkpoint(output_dir / snapshot_name(done), state_dict=model.state_dict(), model_config=model_config,
                                train_config=train_config, dataset=data.info, normalization=data.normalization, step=done,
                                metrics={'val_l1': val_l1, 'train_l1': window_l1, 'train_seconds': train_time,
                                         **_probe_metrics(probe)})
            saved_at = time.monotonic()
            if checkpointing:
                save(done, final)
                last_saved = done
                context.barrier()
                if budget is not None and budget.costs is not None:
                    budget.costs = replace(budget.costs, checkpoint_s=time.monotonic() - saved_at)
            if fitting:
                steps_before = train_config.steps
                fit_to_budget(done, LoopCosts(budget.step_seconds(done, parts_started),
                                              validated - parts_started if validating else 0.0,
                                              time.monotonic() - saved_at), spent_s=0.0, first=True)
                if train_config.steps != steps_before:
                    save(done, final)  # again, with the fitted steps: a resume from it keeps them
            if validating or checkpointing:
                window_start = time.monotonic()  # keep validation and saving out of samples/s
                if budget is not None and budget.costs is not None:
                    budget.restart(done)
            if final:
                break  # the steps iterated were the upper bound; a time budget may end the run sooner
            if budget is not None:
                budget.after_step(done)
    finally:
        if reporter is not None:
            reporter.close()

    return TrainResult(
        output_dir=output_dir, last_checkpoint=last_dir, best_checkpoint=best_dir if best_val_l1 is not None else None,
        steps=train_config.steps, final_val_l1=val_l1, best_val_l1=best_val_l1, best_step=best_step,
        final_train_l1=window_l1, final_probe_l1=probe, train_episodes=data.info.train_episodes, val_episodes=data.info.val_episodes,
        seconds=time.monotonic() - started, samples_per_s=samples_seen / train_time if train_time > 0 else math.nan,
        time_budget=budget.record if budget is not None else None)
