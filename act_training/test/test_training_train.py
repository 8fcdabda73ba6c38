"""Training runs end to end on synthetic episodes with real torch: overfitting drives the
L1 of the inference path near zero, resume equals an uninterrupted run bit for bit, and
runs refuse to clobber or silently diverge from an existing run."""

import json
import time

import h5py
import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from training_episodes import tiny_model_config, tiny_train_config, write_episodes

from act_training.policy import ActPolicy
from act_training.train import TrainingError, train
from act_training.train.checkpoint import load_checkpoint, load_training_state


def _chunk_l1_on_training_frames(policy, data_dir, episodes):
    """Mean |predicted - recorded| / action std over every start step (inference path, z = 0)."""
    errors = []
    for name in episodes:
        with h5py.File(data_dir / name) as h5:
            frames, qpos, actions = h5['/observations/images/top'][()], h5['/observations/qpos'][()], h5['/action'][()]
        for start in range(len(qpos)):
            predicted = policy.predict_chunk({'top': frames[start]}, qpos[start])
            n = min(policy.chunk_size, len(qpos) - start)
            errors.append(np.abs(predicted[:n] - actions[start:start + n]) / policy._action_std)
    return float(np.mean([e.mean() for e in errors]))


@pytest.mark.slow
def test_overfitting_a_tiny_episode_set_drives_l1_near_zero(tmp_path):
    data = write_episodes(tmp_path / 'data', count=2, length=16, height=32, width=32)
    model = tiny_model_config(image_height=32, image_width=32, chunk_size=4, dim_model=64, dim_feedforward=128)
    config = tiny_train_config(steps=500, batch_size=8, lr=1e-3, backbone_lr=0.0, lr_schedule='cosine', val_fraction=0.0,
                               val_every=0, checkpoint_every=500, log_every=50)
    reports = []
    result = train(model, config, data, tmp_path / 'run', progress=reports.append)
    assert [r.step for r in reports] == list(range(50, 501, 50))
    assert reports[0].l1 > 0.3  # it starts far off...
    assert result.final_train_l1 < 0.03  # ...and ends near zero (in normalized units)
    policy = ActPolicy.load(result.last_checkpoint)
    initial = ActPolicy.load(result.last_checkpoint)
    assert _chunk_l1_on_training_frames(policy, data, result.train_episodes) < 0.05
    assert result.best_checkpoint is None and result.val_episodes == ()
    # samples/s counts training time only, so it is at least the overall rate.
    assert 500 * 8 / result.seconds <= result.samples_per_s
    assert all(r.samples_per_s > 0 for r in reports)
    assert initial.model_id == policy.model_id


def _weights(path):
    return load_file(str(path / 'model.safetensors'))


@pytest.mark.slow  # two training runs
def test_resume_continues_bit_identically(tmp_path):
    data = write_episodes(tmp_path / 'data', count=3, length=12, height=32, width=32)
    # Dropout and the CVAE's sampled z exercise the RNG; the backbone trains too.
    model = tiny_model_config(image_height=32, image_width=32, dropout=0.1)
    config = tiny_train_config(steps=8, batch_size=4, val_every=4, checkpoint_every=4, warmup_steps=3)
    straight = train(model, config, data, tmp_path / 'straight', progress=None)

    first = train(model, tiny_train_config(steps=4, batch_size=4, val_every=4, checkpoint_every=4, warmup_steps=3),
                  data, tmp_path / 'resumed', progress=None)
    assert load_training_state(first.last_checkpoint).step == 4
    at_step_4 = _weights(first.last_checkpoint)
    resumed = train(model, config, data, tmp_path / 'resumed', progress=None, resume=True)

    a, b = _weights(straight.last_checkpoint), _weights(resumed.last_checkpoint)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[name], b[name]) for name in a), 'resumed weights differ from the uninterrupted run'
    state_a, state_b = load_training_state(straight.last_checkpoint), load_training_state(resumed.last_checkpoint)
    assert state_a.step == state_b.step == 8
    assert state_a.scheduler == state_b.scheduler
    assert all(torch.equal(state_a.optimizer['state'][i]['exp_avg_sq'], state_b.optimizer['state'][i]['exp_avg_sq'])
               for i in state_a.optimizer['state'])
    assert straight.best_val_l1 == resumed.best_val_l1
    # And the weights did change from step 4 to 8 (the test would pass vacuously otherwise).
    assert not torch.equal(at_step_4['action_head.weight'], b['action_head.weight'])


def test_checkpoints_and_logs_of_a_run(tmp_path):
    data = write_episodes(tmp_path / 'data', count=3, length=10, height=32, width=32)
    result = train(tiny_model_config(image_height=32, image_width=32), tiny_train_config(steps=4, tensorboard=True,
                   val_every=2, checkpoint_every=2, log_every=1, backbone_lr=0.0), data, tmp_path / 'run', progress=None)
    last, best = result.last_checkpoint, result.best_checkpoint
    assert sorted(p.name for p in last.iterdir()) == ['config.json', 'model.safetensors', 'normalization.json',
                                                      'training_state.json', 'training_state.safetensors']
    assert sorted(p.name for p in best.iterdir()) == ['config.json', 'model.safetensors', 'normalization.json']
    config = json.loads((last / 'config.json').read_text())
    assert config['step'] == 4 and config['dataset']['vector_names'] == ['joint_0', 'joint_1', 'joint_2', 'joint_3']
    assert config['model']['state_dim'] == 4 and config['model']['camera_names'] == ['top']
    assert len(config['dataset']['val_episodes']) == 1 and len(config['dataset']['train_episodes']) == 2
    assert load_checkpoint(best).metrics['val_l1'] == pytest.approx(result.best_val_l1)
    assert result.best_val_l1 <= result.final_val_l1
    events = list((tmp_path / 'run' / 'tensorboard').glob('events.out.tfevents.*'))
    assert events and events[0].stat().st_size > 0
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    accumulator = EventAccumulator(str(events[0].parent))
    accumulator.Reload()
    assert {'train/l1', 'train/kl', 'train/lr', 'val/l1'} <= set(accumulator.Tags()['scalars'])
    assert [event.step for event in accumulator.Scalars('val/l1')] == [2, 4]
    # No temporary or aside folders left behind.
    assert sorted(p.name for p in (tmp_path / 'run').iterdir()) == ['best', 'last', 'tensorboard']



@pytest.mark.slow  # trains for its budget (about 10 s)
def test_a_time_budget_ends_the_run_in_time_with_its_schedule_annealed_and_resumable(tmp_path):
    data = write_episodes(tmp_path / 'data', count=3, length=10, height=32, width=32)
    budget_s = 8.0
    reports = []
    config = tiny_train_config(steps=100_000, warmup_steps=20, lr_schedule='cosine', val_every=50, checkpoint_every=50,
                               log_every=1, time_budget_s=budget_s)
    result = train(tiny_model_config(image_height=32, image_width=32), config, data, tmp_path / 'run',
                   progress=reports.append)
    # Fitted at the end of the warmup, from the run's own costs; the wall time kept to.
    assert 20 < result.steps < 100_000 and reports[-1].step == result.steps
    fit = result.time_budget
    assert fit['at_step'] == 20 and fit['steps'] == result.steps and 0 < fit['step_s'] and fit['validation_s'] > 0
    if fit['elapsed_s'] < 0.5 * budget_s:
        assert 0.6 * budget_s < result.seconds < 1.2 * budget_s, result.seconds
    else:  # a machine so loaded that loading and the warmup took most of the budget
        assert result.steps <= fit['first_fit'], fit
    # Before the fit the reports give the upper bound, after it the fitted length (later
    # checks may only shorten it); the cosine then spans the steps and ends near 0 (peak 1e-3).
    assert {r.total_steps for r in reports if r.step <= 20} == {100_000}
    totals = [r.total_steps for r in reports if r.step > 20]
    assert totals[0] == fit['first_fit'] and totals[-1] == result.steps
    assert all(a >= b for a, b in zip(totals, totals[1:]))
    assert reports[-1].lr < 1e-3 * 1e-3
    assert max(r.lr for r in reports) == pytest.approx(1e-3)
    # The checkpoint records the fitted length, so a resume continues it (here: it is done).
    last = load_checkpoint(result.last_checkpoint)
    assert last.train_config.steps == result.steps and load_training_state(result.last_checkpoint).step == result.steps
    with pytest.raises(TrainingError, match='nothing left to train'):
        train(tiny_model_config(image_height=32, image_width=32), config, data, tmp_path / 'run', progress=None,
              resume=True)


@pytest.mark.slow  # trains for its budget (about 10 s)
def test_a_run_whose_steps_slow_down_is_shortened_to_keep_its_time_budget(tmp_path):
    data = write_episodes(tmp_path / 'data', count=3, length=10, height=32, width=32)
    budget_s = 8.0
    reports = []

    def progress(report):  # after the fit (step 20) every step costs 100 ms more, inside the loop's timing
        reports.append(report)
        if report.step > 20:
            time.sleep(0.1)

    # A check at every validation (cheap here), few checkpoints (0.8 s each).
    config = tiny_train_config(steps=100_000, warmup_steps=20, lr_schedule='cosine', val_every=5, checkpoint_every=1000,
                               log_every=1, time_budget_s=budget_s)
    result = train(tiny_model_config(image_height=32, image_width=32), config, data, tmp_path / 'run', progress=progress)
    fit = result.time_budget
    assert fit['steps'] == result.steps <= fit['first_fit']
    # Unshortened, the run would overrun by (first_fit - 20) x 0.1 s: 7 s here, where the first
    # fit gives about 90 steps. A machine so loaded that it gives few leaves nothing to test.
    if (fit['first_fit'] - 20) * 0.1 > 0.3 * budget_s:
        # Shortened after the slowdown, and in time: a check every 5 steps bounds the overrun.
        assert result.steps < fit['first_fit'] and fit['last_shortened_at'] > 20, fit
        assert fit['step_s_then'] > fit['step_s'] + 0.05, fit
        assert result.seconds < 1.15 * budget_s, result.seconds
    assert reports[-1].lr < 1e-3 * 1e-2  # the cosine still ends near 0 over the shortened run


def test_flush_denormals_makes_arithmetic_on_denormals_zero():
    from act_training.train.optim import flush_denormals

    tiny = torch.finfo(torch.float32).tiny  # 1.2e-38, the smallest normal float32
    try:
        torch.set_flush_denormal(False)
        assert 0.0 < (torch.tensor([tiny]) * 0.5).item() < tiny  # a denormal result
        if not flush_denormals():
            pytest.skip('this CPU has no flush-to-zero mode (torch.set_flush_denormal: x86 only)')
        assert (torch.tensor([tiny]) * 0.5).item() == 0.0
    finally:
        torch.set_flush_denormal(False)


def test_a_run_with_smooth_l1_and_the_image_aux_head_logs_it_and_its_policy_loads(tmp_path):
    data = write_episodes(tmp_path / 'data', count=3, length=10, height=32, width=32)
    model = tiny_model_config(image_height=32, image_width=32, action_loss='smooth_l1', image_aux_weight=1.0)
    reports = []
    result = train(model, tiny_train_config(steps=4, tensorboard=True, val_every=2, checkpoint_every=2, log_every=1),
                   data, tmp_path / 'run', progress=reports.append)
    # The auxiliary loss is its own figure (always > 0 from random init); the reported L1 is the policy's.
    assert all(r.image_aux > 0 for r in reports)
    assert all(r.loss != pytest.approx(r.l1 + 10.0 * r.kl) for r in reports)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    accumulator = EventAccumulator(str(tmp_path / 'run' / 'tensorboard'))
    accumulator.Reload()
    assert [event.step for event in accumulator.Scalars('train/image_aux')] == [1, 2, 3, 4]
    saved = load_checkpoint(result.last_checkpoint)
    assert saved.model_config.image_aux_weight == 1.0 and saved.model_config.action_loss == 'smooth_l1'
    assert 'image_aux_head.weight' in _weights(result.last_checkpoint)
    # The policy runs from that checkpoint (its fast path ignores the auxiliary head).
    policy = ActPolicy.load(result.last_checkpoint)
    with h5py.File(data / result.train_episodes[0]) as h5:
        chunk = policy.predict_chunk({'top': h5['/observations/images/top'][0]}, h5['/observations/qpos'][0])
    assert chunk.shape == (model.chunk_size, 4) and np.isfinite(chunk).all()


def test_runs_are_never_clobbered_and_resume_keeps_its_config(tmp_path):
    data = write_episodes(tmp_path / 'data', count=2, length=8, height=32, width=32)
    model, config = tiny_model_config(image_height=32, image_width=32), tiny_train_config(steps=2, backbone_lr=0.0)
    train(model, config, data, tmp_path / 'run', progress=None)
    with pytest.raises(TrainingError, match='already holds a training run'):
        train(model, config, data, tmp_path / 'run', progress=None)
    with pytest.raises(TrainingError, match=r'model.dim_model: checkpoint 32, given 64'):
        train(tiny_model_config(image_height=32, image_width=32, dim_model=64), tiny_train_config(steps=4, backbone_lr=0.0),
              data, tmp_path / 'run', progress=None, resume=True)
    with pytest.raises(TrainingError, match='nothing left to train'):
        train(model, config, data, tmp_path / 'run', progress=None, resume=True)
    with pytest.raises(TrainingError, match='--resume: .*does not exist'):
        train(model, config, data, tmp_path / 'other', progress=None, resume=True)


def test_diverging_run_stops_without_writing_a_checkpoint(tmp_path):
    data = write_episodes(tmp_path / 'data', count=2, length=8, height=32, width=32)
    with pytest.raises(TrainingError, match='training diverged'):
        train(tiny_model_config(image_height=32, image_width=32), tiny_train_config(steps=4, lr=1e30, backbone_lr=0.0,
              log_every=1), data, tmp_path / 'run', progress=None)
    assert not (tmp_path / 'run' / 'last').exists()
