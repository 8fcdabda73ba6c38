"""The demo's configuration checks, its trajectory traces and report plots (no ROS graph)."""

from pathlib import Path

import numpy as np
import pytest

from act_tools.demo import DemoConfig, DemoError, prepare_output
from act_tools.demo_report import plot_success, plot_training_curves, plot_trajectory, validation_points
from act_tools.trajectory_trace import Trajectory


def test_demo_config_names_the_bad_field(tmp_path):
    with pytest.raises(ValueError, match='episodes must be >= 2'):
        DemoConfig(output_dir=tmp_path, episodes=1)
    with pytest.raises(ValueError, match='eval_episodes'):
        DemoConfig(output_dir=tmp_path, eval_episodes=0)
    with pytest.raises(ValueError, match="device must be cpu, cuda or cuda:N, got 'tpu'"):
        DemoConfig(output_dir=tmp_path, device='tpu')
    with pytest.raises(ValueError, match='eval_ensemble_weighting'):
        DemoConfig(output_dir=tmp_path, eval_ensemble_weighting='average')


def test_prepare_output_keeps_an_earlier_run_unless_told(tmp_path):
    (tmp_path / 'run.txt').write_text('earlier')
    with pytest.raises(DemoError, match='already holds a run'):
        prepare_output(DemoConfig(output_dir=tmp_path))
    assert (tmp_path / 'run.txt').exists()
    prepare_output(DemoConfig(output_dir=tmp_path, episodes=2, overwrite=True))  # 2: the disk check passes
    assert tmp_path.is_dir() and not any(tmp_path.iterdir())


def test_prepare_output_refuses_a_run_the_disk_cannot_hold(tmp_path):
    with pytest.raises(DemoError, match=r'10000000 episodes need about \d+ GB .* free'):
        prepare_output(DemoConfig(output_dir=tmp_path / 'demo', episodes=10_000_000))


def test_trajectory_round_trips_without_pickle(tmp_path):
    names = tuple(f'j{i}' for i in range(14))
    trace = Trajectory(names, np.linspace(0, 1, 5), np.arange(70.0).reshape(5, 14), np.linspace(0, 1, 7),
                       np.full((7, 14), np.nan))
    loaded = Trajectory.load(trace.save(tmp_path / 'trace.npz'))
    assert loaded.names == names
    np.testing.assert_array_equal(loaded.command, trace.command)
    np.testing.assert_array_equal(loaded.measured_t, trace.measured_t)
    assert np.isnan(loaded.measured).all()


def _png(path: Path) -> bool:
    return path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n' and path.stat().st_size > 5000


def test_report_plots_are_written(tmp_path):
    curve = [{'step': s, 'loss': 1.0 / s, 'l1': 0.5 / s, 'kl': 0.1, 'lr': 1e-4, 'val_l1': None if s < 20 else 0.04}
             for s in range(5, 45, 5)]
    assert _png(plot_training_curves(curve, tmp_path / 'curves.png'))
    episodes = [{'index': i, 'seed': 100000 + i, 'success': i == 1, 'episode_max_reward': float(i + 2),
                 'max_reward': 4.0} for i in range(3)]
    assert _png(plot_success(episodes, tmp_path / 'success.png'))
    t = np.linspace(0, 8, 400)
    trace = Trajectory(tuple(f'j{i}' for i in range(14)), t, np.sin(t)[:, None].repeat(14, 1), t,
                       np.cos(t)[:, None].repeat(14, 1))
    assert _png(plot_trajectory(trace.save(tmp_path / 'trace.npz'), tmp_path / 'trajectories.png', title='episode 0'))


def test_each_validation_is_plotted_once_at_its_first_report():
    curve = [{'step': 25, 'val_l1': None}, {'step': 500, 'val_l1': None}, {'step': 525, 'val_l1': 0.3},
             {'step': 550, 'val_l1': 0.3}, {'step': 1000, 'val_l1': 0.3}, {'step': 1025, 'val_l1': 0.2},
             {'step': 1050, 'val_l1': 0.2}]
    assert validation_points(curve) == [(525, 0.3), (1025, 0.2)]


def test_the_cpu_demo_gives_training_its_minutes_as_a_time_budget():
    import time

    from act_tools.demo import eval_seconds_estimate, with_time_budget
    from act_training.config import TrainConfig

    train = TrainConfig(steps=3000, device='cpu')
    lines = []
    # The minutes as wall seconds; train.steps stays the upper bound the trainer fits within.
    budgeted = with_time_budget(DemoConfig(output_dir=Path('x'), train_minutes=12), train, time.time(), lines.append)
    assert budgeted.time_budget_s == 720.0 and budgeted.steps == 3000 and lines == []
    # A limit on the whole demo that leaves less: what is left after the evaluation's estimate.
    config = DemoConfig(output_dir=Path('x'), train_minutes=12, finish_within_minutes=30)
    started = time.time() - 20 * 60
    left_s = 30 * 60 - 20 * 60 - eval_seconds_estimate(config)
    assert with_time_budget(config, train, started, lines.append).time_budget_s == pytest.approx(left_s, abs=2.0)
    assert 'so that the demo ends within 30 min' in lines[0]
    # Nothing left: a second, the warmup alone, said.
    assert with_time_budget(config, train, time.time() - 40 * 60, lines.append).time_budget_s == 1.0
    assert 'no time is left' in lines[-1]
    # No budget on a GPU or with train_minutes=0: the config's steps whatever they cost.
    assert with_time_budget(DemoConfig(output_dir=Path('x'), train_minutes=0), train, time.time(), print) is train
    assert with_time_budget(DemoConfig(output_dir=Path('x'), train_minutes=12, device='cuda'), train, time.time(),
                            print) is train
    with pytest.raises(ValueError, match='train_minutes'):
        DemoConfig(output_dir=Path('x'), train_minutes=-1)


def test_training_gets_what_the_time_limit_leaves_after_the_evaluation():
    import time

    from act_tools.demo import eval_seconds_estimate, training_minutes_left

    # 20 realtime episodes of 400 steps at 50 Hz: 160 s of sim time, plus the overhead.
    config = DemoConfig(output_dir=Path('x'))
    assert eval_seconds_estimate(config) == pytest.approx(20 * 8.0 + 60.0)
    assert eval_seconds_estimate(DemoConfig(output_dir=Path('x'), eval_real_time_factor=2.0)) == pytest.approx(140.0)
    # A fast CPU with setup done: 6 min gone, the 12 minutes fit with room to spare.
    assert training_minutes_left(12.0, 30.0, 6 * 60.0, 220.0) == 12.0
    # A fresh machine whose recording was slow: 15 min gone, less than 12 are left.
    left = training_minutes_left(12.0, 30.0, 15 * 60.0, 220.0)
    assert left == pytest.approx((1800 - 900 - 220) / 60.0) and left < 12.0
    assert training_minutes_left(12.0, 30.0, 29 * 60.0, 220.0) == 0.0  # nothing left
    assert training_minutes_left(12.0, 0.0, 10**6, 220.0) == 12.0  # no limit
    with pytest.raises(ValueError, match='finish_within_minutes'):
        DemoConfig(output_dir=Path('x'), finish_within_minutes=-1)
    with pytest.raises(ValueError, match='started_at'):
        DemoConfig(output_dir=Path('x'), started_at=time.time() + 3600)


def test_act_demo_passes_the_limit_and_make_demo_its_start():
    from act_tools.cli.demo import DEFAULT_FINISH_WITHIN_MINUTES
    from act_tools.cli.main import build_parser

    args = build_parser().parse_args(['demo'])
    assert args.finish_within == DEFAULT_FINISH_WITHIN_MINUTES == 30.0 and args.started_at is None
    assert build_parser().parse_args(['demo', '--started-at', '1700000000']).started_at == 1700000000.0
    script = (Path(__file__).resolve().parents[2] / 'scripts' / 'demo.sh').read_text()
    assert 'started_at=$(date +%s)' in script.split('prepare.sh')[0]  # taken before the setup
    assert 'act demo --started-at "$started_at"' in script
