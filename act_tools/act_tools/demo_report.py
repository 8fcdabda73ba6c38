"""The plots of `act demo`'s report folder (matplotlib, no display needed)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence


def _pyplot():
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    _pyplot().close(fig)
    return path


def validation_points(curve: Sequence[Mapping]) -> list[tuple[int, float]]:
    """(step, val_l1) per validation: a progress report carries the latest validation L1
    until the next one, so each value is taken once, at the first report that has it."""
    points, previous = [], None
    for point in curve:
        if point.get('val_l1') is not None and point['val_l1'] != previous:
            points.append((point['step'], point['val_l1']))
            previous = point['val_l1']
    return points


def plot_training_curves(curve: Sequence[Mapping], path: Path) -> Path:
    """Loss terms against steps: L1 (train, and validation where measured) and KL.
    curve: one entry per logged step with step, l1, kl, val_l1 (None until measured)."""
    plt = _pyplot()
    fig, (ax_l1, ax_kl) = plt.subplots(1, 2, figsize=(10, 3.6))
    steps = [point['step'] for point in curve]
    ax_l1.plot(steps, [point['l1'] for point in curve], label='train L1')
    val = validation_points(curve)
    if val:
        ax_l1.plot([s for s, _ in val], [v for _, v in val], 'o-', label='validation L1')
    ax_l1.set(xlabel='step', ylabel='L1 (normalized actions)', yscale='log', title='reconstruction')
    ax_l1.legend()
    ax_kl.plot(steps, [point['kl'] for point in curve], color='tab:red')
    ax_kl.set(xlabel='step', ylabel='KL', title='CVAE KL divergence')
    return _save(fig, path)


def plot_success(episodes: Sequence[Mapping], path: Path) -> Path:
    """Each evaluated episode's best reward against the task's maximum (success = reached)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(4.0, 0.45 * len(episodes) + 1.5), 3.2))
    indices = [e['index'] for e in episodes]
    rewards = [e['episode_max_reward'] for e in episodes]
    colors = ['tab:green' if e['success'] else 'tab:gray' for e in episodes]
    ax.bar(indices, rewards, color=colors)
    if episodes:
        ax.axhline(episodes[0]['max_reward'], color='k', linestyle='--', linewidth=1, label='success')
        ax.legend(loc='upper right')
    wins = sum(e['success'] for e in episodes)
    ax.set(xlabel='evaluation episode', ylabel='max reward reached',
           title=f'success {wins}/{len(episodes)}', xticks=indices)
    return _save(fig, path)


def plot_trajectory(trace_path: Path, path: Path, title: str = '') -> Path:
    """Commanded (policy, ensembled) vs measured (follower) position of every joint."""
    from act_tools.trajectory_trace import Trajectory

    trace = Trajectory.load(trace_path)
    plt = _pyplot()
    count = len(trace.names)
    columns = 7 if count % 7 == 0 else min(count, 4)
    rows = math.ceil(count / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.6 * columns, 2.1 * rows), sharex=True, squeeze=False)
    for index, name in enumerate(trace.names):
        ax = axes[index // columns][index % columns]
        if len(trace.measured_t):
            ax.plot(trace.measured_t, trace.measured[:, index], label='executed (follower)', linewidth=1.2)
        if len(trace.command_t):
            ax.plot(trace.command_t, trace.command[:, index], label='predicted (policy command)', linewidth=1,
                    linestyle='--')
        ax.set_title(name, fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes.flat[count:]:
        ax.axis('off')
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f'predicted vs executed joint positions, {title} (rad; grippers normalized)', fontsize=10)
    for ax in axes[-1]:
        ax.set_xlabel('sim time (s)', fontsize=8)
    return _save(fig, path)

