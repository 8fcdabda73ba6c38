"""How long a training step takes on this machine, and how many fit a time budget: a
synthetic step of a config's shapes (bench/bench_training_step.py, bench/bench_roofline.py),
and the arithmetic behind TrainConfig.time_budget_s, which the trainer applies with the
costs measured in the run itself (`act demo` on a CPU, whose type, and so whose speed,
varies: bf16 is native on some of this project's CPUs and not on others).

A synthetic step's arithmetic is a real step's (it depends on the shapes only), but its
wall time is not the training loop's: the loop ran at 1.1-1.25x the synthetic step on the
EPYCs and 1.56x on the AMX Xeon (make demo), which is why a time budget is applied with
the costs the run measures itself.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from dataclasses import dataclass, replace

import torch

from act_training.config import ModelConfig, TrainConfig
from act_training.data.chunks import Batch
from act_training.model import build_model
from act_training.model.runner import native_bf16
from act_training.train.allocator import keep_freed_memory
from act_training.train.batch_loss import forward_loss
from act_training.train.optim import build_optimizer


def uses_bf16(train_config: TrainConfig, device: torch.device) -> bool:
    """The trainer's precision rule: bf16 autocast where asked and where the device computes
    bf16 natively (elsewhere it is converted to fp32 and back, slower than fp32)."""
    return train_config.bf16 and native_bf16(device)


def autocast_for(bf16: bool, device: torch.device):
    """A context-manager factory for the forward pass: bf16 autocast or nothing."""
    return (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext


class SyntheticStep:
    """One model, optimizer and random batch of the config's shapes; call to run one step.
    The process's allocator is set as the CPU trainer sets it (allocator.keep_freed_memory)."""

    def __init__(self, model_config: ModelConfig, train_config: TrainConfig, bf16: bool | None = None,
                 state_dim: int = 14, action_dim: int = 14):
        device = torch.device('cpu')
        keep_freed_memory()
        self.bf16 = uses_bf16(train_config, device) if bf16 is None else bf16
        self.model_config = replace(model_config, state_dim=state_dim, action_dim=action_dim, backbone_weights='none',
                                    camera_names=model_config.camera_names or ('top',))
        torch.manual_seed(0)
        self.model = build_model(self.model_config).train()
        self.model.use_channels_last()  # as the trainer runs it
        self.optimizer = build_optimizer(self.model, train_config, device)
        b, n, s = train_config.batch_size, len(self.model_config.camera_names), self.model_config.chunk_size
        self.batch = Batch(torch.randint(0, 256, (b, n, 3, *self.model_config.image_size), dtype=torch.uint8),
                           torch.randn(b, state_dim), torch.randn(b, s, action_dim), torch.zeros(b, s, dtype=torch.bool))
        self.autocast = autocast_for(self.bf16, device)

    def __call__(self) -> None:
        terms = forward_loss(self.model, self.batch, self.model_config, self.autocast)
        self.optimizer.zero_grad(set_to_none=True)
        terms.loss.backward()
        self.optimizer.step()


def measure_step_seconds(step: SyntheticStep, steps: int = 5, warmup: int = 2) -> float:
    """Median wall seconds of `steps` steps after `warmup` (oneDNN picks and caches its
    kernels on the first calls)."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@dataclass(frozen=True)
class LoopCosts:
    """Wall seconds of a training run's parts, measured in the run itself (the trainer, at
    each step where it applies TrainConfig.time_budget_s)."""

    step_s: float  # one optimization step, batch loading included
    validation_s: float  # one validation and vision probe (0: the run does not validate)
    checkpoint_s: float  # one save of the `last` checkpoint


def steps_within_budget(budget_s: float, elapsed_s: float, done: int, costs: LoopCosts, max_steps: int,
                        val_every: int, checkpoint_every: int) -> int:
    """The total steps a run can train in budget_s wall seconds, elapsed_s of them already
    spent at step `done`: the steps left at costs.step_s each, one validation every
    val_every steps (0: none), one checkpoint every checkpoint_every, and the final
    validation and checkpoint. Between done + 1 (the run ends at once, its final
    checkpoint saved) and max_steps.

    Errors: ValueError for a budget or a step time <= 0."""
    if budget_s <= 0 or costs.step_s <= 0:
        raise ValueError(f'budget and step time must be > 0, got {budget_s} s and {costs.step_s} s')
    per_step = costs.step_s + costs.checkpoint_s / checkpoint_every
    left_s = budget_s - elapsed_s - costs.checkpoint_s
    if val_every > 0:
        per_step += costs.validation_s / val_every
        left_s -= costs.validation_s
    return max(done + 1, min(max_steps, done + int(left_s / per_step)))
