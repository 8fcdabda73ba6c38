"""AdamW with the paper's two learning rates (backbone and the rest) and the LR schedule."""

from __future__ import annotations

import math

import torch

from act_training.config import TrainConfig
from act_training.model.act import ActModel


def build_optimizer(model: ActModel, config: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    groups = [{'params': [p for p in model.head_parameters() if p.requires_grad], 'lr': config.lr}]
    backbone = [p for p in model.backbone_parameters() if p.requires_grad]
    if backbone:
        groups.append({'params': backbone, 'lr': config.backbone_lr})
    # fused: one kernel for all parameters, on CUDA and on the CPU, the same update to float
    # rounding. On the CPU it took 10 ms a step for the demo config's 17.5 M parameters where
    # the default (foreach) took 45 (AMD EPYC, 2 threads; 14 against 73 ms on one core): a
    # seventh of a demo training step in bf16 (0.25 s).
    return torch.optim.AdamW(groups, lr=config.lr, weight_decay=config.weight_decay,
                             fused=device.type in ('cpu', 'cuda') or None)


def flush_denormals() -> bool:
    """Makes this thread, and the threads torch starts after it, treat float values below
    1.2e-38 (denormals) as 0 (the CPU's flush-to-zero and denormals-are-zero modes). A new
    thread inherits its creator's floating-point mode, and threads that already exist keep
    theirs: call it before the first parallel torch op of the process (`act train` and
    `act demo` do so first thing). False where the CPU has no such mode (not x86).

    Why: Adam's moments of parameters whose gradients are tiny or zero decay below 1.2e-38
    as a run goes on (14.5 % of them after 4293 steps of cpu_demo), and arithmetic on
    denormals is slow on Intel cores. Measured on the AMX Xeon (model 167, 2 cores), with
    that run's weights and moments: the fused AdamW step took 36 ms, 15.5 ms flushed, and a
    training step 158 ms, 139 flushed; the run itself had slowed from 0.15 to 0.20 s per
    step. The update is unchanged where it matters: a first moment under 1e-38 moves a
    weight by under 1e-30, and Adam's eps (1e-8) dwarfs the root of a second moment there."""
    return bool(torch.set_flush_denormal(True))


def lr_factor(step: int, config: TrainConfig) -> float:
    """Multiplier of the base learning rates at `step` (0-based)."""
    if config.warmup_steps and step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    if config.lr_schedule == 'cosine':
        span = max(1, config.steps - config.warmup_steps)
        progress = min(1.0, (step - config.warmup_steps) / span)
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    return 1.0


def build_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig,
                    done: int = 0) -> torch.optim.lr_scheduler.LambdaLR:
    """The schedule of `config`, positioned after `done` steps (as if stepped `done` times:
    a run whose length TrainConfig.time_budget_s changed goes on with the new schedule)."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, config), last_epoch=done - 1)


# Optimizer options that depend on where a run executes, not on its state: a run saved on
# a GPU (fused AdamW) resumes on the CPU with the CPU's choice, and vice versa.
_PLACEMENT_KEYS = ('fused', 'foreach', 'capturable', 'differentiable')


def load_optimizer_state(optimizer: torch.optim.Optimizer, state: dict) -> None:
    groups = []
    for saved, current in zip(state['param_groups'], optimizer.param_groups):
        saved = dict(saved)
        for key in _PLACEMENT_KEYS:
            if key in current:
                saved[key] = current[key]
        groups.append(saved)
    # load_state_dict moves each tensor to its parameter's device (and `step` where fused needs it).
    optimizer.load_state_dict({'state': state['state'], 'param_groups': groups})
    # The saved moments are contiguous (safetensors stores them so); a parameter in
    # channels_last (the backbone's convolutions, ActModel.use_channels_last) gets them back
    # in its own layout. The fused kernel walks the parameter, its gradient and its moments
    # in memory order: with the layouts apart, a resumed run drifted from the uninterrupted
    # one (test_training_kill), where foreach's elementwise ops had matched by index.
    for param, per_param in optimizer.state.items():
        for key, value in per_param.items():
            if isinstance(value, torch.Tensor) and value.shape == param.shape and value.stride() != param.stride():
                per_param[key] = torch.empty_like(param).copy_(value)
