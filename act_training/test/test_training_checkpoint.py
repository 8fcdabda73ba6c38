"""Checkpoint folders: round trip, bit-identical predictions after reload, no pickle, and
atomic replacement (a save interrupted at any point leaves a complete checkpoint)."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch
from training_episodes import tiny_model_config

from act_training.config import DatasetInfo, TrainConfig
from act_training.data.normalization import Normalization, VectorStats
from act_training.model import build_model
from act_training.policy import ActPolicy
from act_training.train import checkpoint as checkpoint_module
from act_training.train.checkpoint import (CheckpointError, TrainingState, load_checkpoint, load_training_state,
                                           resolve_checkpoint_dir, save_checkpoint)
from act_training.train.optim import build_optimizer, build_scheduler, load_optimizer_state

MODEL = tiny_model_config(state_dim=4, action_dim=4)
DATASET = DatasetInfo(vector_names=('a', 'b', 'c', 'd'), camera_names=('top',), control_rate_hz=25.0,
                      train_episodes=('episode_0.hdf5',), episode_lengths={'episode_0.hdf5': 10})
NORMALIZATION = Normalization(VectorStats(np.arange(4.0), np.full(4, 2.0)), VectorStats(np.zeros(4), np.full(4, 0.5)), 0.01)


def _save(path, model, step=3, training_state=None):
    return save_checkpoint(path, state_dict=model.state_dict(), model_config=MODEL, train_config=TrainConfig(),
                           dataset=DATASET, normalization=NORMALIZATION, step=step, metrics={'val_l1': 0.5},
                           training_state=training_state)


def _model(seed=0):
    torch.manual_seed(seed)
    return build_model(MODEL)


def test_round_trip_and_bit_identical_predictions(tmp_path):
    model = _model()
    _save(tmp_path / 'ckpt', model)
    loaded = load_checkpoint(tmp_path / 'ckpt')
    assert loaded.model_config == MODEL and loaded.dataset == DATASET and loaded.step == 3
    assert loaded.metrics == {'val_l1': 0.5}
    assert np.array_equal(loaded.normalization.action.std, NORMALIZATION.action.std)
    assert all(torch.equal(loaded.state_dict[k], v) for k, v in model.state_dict().items())

    rng = np.random.default_rng(0)
    images = {'top': rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)}
    qpos = rng.normal(size=4)
    # fp32: compared below with the fp32 model (bf16 against fp32 is test_training_model's).
    first, second = ActPolicy.load(tmp_path / 'ckpt', precision='fp32'), ActPolicy.load(tmp_path / 'ckpt', precision='fp32')
    a, b = first.predict_chunk(images, qpos), second.predict_chunk(images, qpos)
    assert np.array_equal(a, b) and np.array_equal(a, first.predict_chunk(images, qpos))
    # Same as the saved model itself (eval, z = 0), up to the fast path's BatchNorm folding.
    from act_training.data.images import normalize_images
    with torch.no_grad():
        frames = torch.from_numpy(images['top'])[None, None].permute(0, 1, 4, 2, 3)
        normalized = torch.from_numpy(((qpos - np.arange(4.0)) / 2.0).astype(np.float32))[None]
        reference = model.eval()(normalize_images(frames), normalized).actions[0].double().numpy() * 0.5
    assert np.allclose(a, reference, atol=1e-4)
    assert first.model_id == second.model_id and first.model_id.startswith('ckpt-') and len(first.model_id) == 13
    _save(tmp_path / 'other', _model(seed=1))
    assert ActPolicy.load(tmp_path / 'other').model_id[6:] != first.model_id[5:]


def test_weights_are_safetensors_and_nothing_is_unpickled(tmp_path):
    _save(tmp_path / 'ckpt', _model())
    header = (tmp_path / 'ckpt' / 'model.safetensors').read_bytes()[8:200]
    assert header.startswith(b'{')  # a JSON header, not a pickle
    (tmp_path / 'ckpt' / 'model.safetensors').write_bytes(b'\x80\x04garbage')
    with pytest.raises(CheckpointError, match='model.safetensors: not a valid safetensors file'):
        load_checkpoint(tmp_path / 'ckpt')


def test_training_state_round_trip(tmp_path):
    model = _model()
    config = TrainConfig(lr=1e-3, warmup_steps=5)
    optimizer, scheduler = build_optimizer(model, config, torch.device('cpu')), None
    scheduler = build_scheduler(optimizer, config)
    for _ in range(3):
        optimizer.zero_grad()
        sum(p.square().sum() for p in model.parameters() if p.requires_grad).backward()
        optimizer.step()
        scheduler.step()
    _save(tmp_path / 'ckpt', model, training_state=TrainingState(
        step=3, optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict(), best_val_l1=0.25, best_step=2))
    state = load_training_state(tmp_path / 'ckpt')
    assert (state.step, state.best_val_l1, state.best_step) == (3, 0.25, 2)
    fresh = build_optimizer(_model(), config, torch.device('cpu'))
    load_optimizer_state(fresh, state.optimizer)
    saved, restored = optimizer.state_dict(), fresh.state_dict()
    assert saved['param_groups'] == restored['param_groups']
    for index, values in saved['state'].items():
        for key, value in values.items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(restored['state'][index][key])), (index, key)
    fresh_scheduler = build_scheduler(fresh, config)
    fresh_scheduler.load_state_dict(state.scheduler)
    assert fresh_scheduler.get_last_lr() == scheduler.get_last_lr()
    _save(tmp_path / 'best', model)
    with pytest.raises(CheckpointError, match='no training state'):
        load_training_state(tmp_path / 'best')


def test_a_resumed_channels_last_model_steps_exactly_as_the_uninterrupted_one(tmp_path):
    """The backbone trains in channels_last and the fused AdamW walks its moments in memory
    order: restored from the (contiguous) checkpoint, they must come back in that layout."""
    config = TrainConfig(lr=1e-3, warmup_steps=0)

    def steps(model, optimizer, seeds):
        for seed in seeds:
            torch.manual_seed(seed)
            images = torch.rand(2, 1, 3, MODEL.image_height, MODEL.image_width)
            optimizer.zero_grad()
            model.backbone(images[:, 0].contiguous(memory_format=torch.channels_last)).square().mean().backward()
            optimizer.step()

    straight = _model()
    straight.use_channels_last()
    optimizer = build_optimizer(straight, config, torch.device('cpu'))
    steps(straight, optimizer, [0, 1])
    _save(tmp_path / 'ckpt', straight, training_state=TrainingState(step=2, optimizer=optimizer.state_dict(),
                                                                    scheduler={}, best_val_l1=None, best_step=None))
    steps(straight, optimizer, [2, 3])

    resumed = build_model(MODEL)
    resumed.load_state_dict(load_checkpoint(tmp_path / 'ckpt').state_dict)
    resumed.use_channels_last()
    fresh = build_optimizer(resumed, config, torch.device('cpu'))
    load_optimizer_state(fresh, load_training_state(tmp_path / 'ckpt').optimizer)
    steps(resumed, fresh, [2, 3])
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


@pytest.mark.parametrize('fail_at_write', [1, 2, 3])
def test_failed_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch, fail_at_write):
    old = _model(seed=0)
    _save(tmp_path / 'last', old, step=1)
    calls = []
    real_write = checkpoint_module._write_file

    def failing_write(path, data):
        calls.append(path)
        if len(calls) == fail_at_write:
            real_write(path, data[:len(data) // 2])  # half a file, then the "crash"
            raise OSError('disk full')
        real_write(path, data)

    monkeypatch.setattr(checkpoint_module, '_write_file', failing_write)
    with pytest.raises(OSError, match='disk full'):
        _save(tmp_path / 'last', _model(seed=1), step=2)
    loaded = load_checkpoint(tmp_path / 'last')
    assert loaded.step == 1
    assert all(torch.equal(loaded.state_dict[k], v) for k, v in old.state_dict().items())
    assert sorted(p.name for p in tmp_path.iterdir()) == ['last']


def test_kill_between_renames_is_recovered(tmp_path, monkeypatch):
    _save(tmp_path / 'last', _model(seed=0), step=1)
    real_rename = os.rename

    def rename_then_die(source, target):
        real_rename(source, target)
        if str(target).endswith('.last.prev'):
            raise KeyboardInterrupt  # the process dies with the old folder aside, the new not yet in place

    monkeypatch.setattr(checkpoint_module.os, 'rename', rename_then_die)
    with pytest.raises(KeyboardInterrupt):
        _save(tmp_path / 'last', _model(seed=1), step=2)
    monkeypatch.setattr(checkpoint_module.os, 'rename', real_rename)
    assert not (tmp_path / 'last').exists()
    assert resolve_checkpoint_dir(tmp_path / 'last') == tmp_path / '.last.prev'
    assert load_checkpoint(tmp_path / 'last').step == 1
    # The next save completes normally and cleans up.
    (tmp_path / '.last.tmp-99999').mkdir()  # left by a killed process
    _save(tmp_path / 'last', _model(seed=2), step=3)
    assert load_checkpoint(tmp_path / 'last').step == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ['last']


SAVER = textwrap.dedent('''
    import sys, numpy as np, torch
    sys.path.insert(0, {test_dir!r})
    from test_training_checkpoint import DATASET, MODEL, NORMALIZATION
    from act_training.config import TrainConfig
    from act_training.train.checkpoint import save_checkpoint
    step = 0
    while True:
        step += 1
        # 16 MB per save; every tensor holds the step, so a mixed folder would show.
        weights = {{f'w{{i}}': torch.full((1024, 1024), float(step)) for i in range(4)}}
        save_checkpoint({path!r}, state_dict=weights, model_config=MODEL, train_config=TrainConfig(),
                        dataset=DATASET, normalization=NORMALIZATION, step=step)
        print(step, flush=True)
''')


@pytest.mark.slow
def test_sigkill_mid_save_leaves_a_valid_checkpoint(tmp_path):
    script = SAVER.format(test_dir=os.path.dirname(__file__), path=str(tmp_path / 'last'))
    rng = np.random.default_rng(0)
    for attempt in range(3):
        process = subprocess.Popen([sys.executable, '-c', script], stdout=subprocess.PIPE, text=True)
        try:
            first_line = process.stdout.readline()  # at least one complete save
            assert first_line.strip(), 'saver produced no checkpoint'
            time.sleep(float(rng.uniform(0.0, 0.3)))
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
        loaded = load_checkpoint(tmp_path / 'last')
        assert loaded.step >= 1
        assert all(torch.equal(t, torch.full((1024, 1024), float(loaded.step))) for t in loaded.state_dict.values())
