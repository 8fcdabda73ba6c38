"""Episodes: reading, every kind of bad data failing with file and field named (and no
checkpoint written), chunk targets padded/masked past the end, deterministic sampling."""

import os

import h5py
import numpy as np
import pytest
import torch
from training_episodes import episode_arrays, tiny_model_config, tiny_train_config, write_episode, write_episodes

from act_training.data.chunks import ChunkVectors, FrameIndex, StepSampler, validation_frames
from act_training.data.dataset import prepare_training_data, split_episodes
from act_training.data.episodes import (ALOHA_VECTOR_NAMES, EpisodeDataError, Episode, find_episodes,
                                        inspect_episode, read_vectors)
from act_training.data.images import frames_to_model_size
from act_training.data.normalization import Normalization, VectorStats
from act_training.train import train


def test_inspect_reads_layout_and_attributes(tmp_path):
    path = write_episode(tmp_path / 'episode_0.hdf5', length=10, cameras=('top', 'angle'), height=48, width=80)
    info = inspect_episode(path)
    assert info.length == 10 and info.state_dim == 4 and info.action_dim == 4
    assert info.cameras == {'angle': (48, 80), 'top': (48, 80)}
    assert info.vector_names == ('joint_0', 'joint_1', 'joint_2', 'joint_3')
    assert info.control_rate_hz == 50.0 and info.attrs['task'] == 'synthetic'


def test_episodes_found_in_index_order(tmp_path):
    for index in (10, 2, 1):
        write_episode(tmp_path / f'episode_{index}.hdf5', length=3)
    (tmp_path / 'notes.txt').write_text('not an episode')
    assert [p.name for p in find_episodes(tmp_path)] == ['episode_1.hdf5', 'episode_2.hdf5', 'episode_10.hdf5']
    (tmp_path / 'empty').mkdir()
    with pytest.raises(EpisodeDataError, match='empty: no episode_<index>.hdf5 files'):
        find_episodes(tmp_path / 'empty')
    with pytest.raises(EpisodeDataError, match='absent: data directory does not exist'):
        find_episodes(tmp_path / 'absent')


def _bad(arrays_change=None, attrs=None):
    arrays = episode_arrays(length=6)
    if arrays_change:
        arrays_change(arrays)
    return arrays, attrs


def _nan_action(arrays):
    arrays['/action'][3, 2] = np.nan


@pytest.mark.parametrize('change, attrs, field, words', [
    (lambda a: a.pop('/observations/images/top'), None, '/observations/images/top', ['missing camera', "'top'"]),
    (lambda a: a.__setitem__('/action', a['/action'][:-1]), None, '/action', ['5 steps', '6']),
    (_nan_action, None, '/action', ['non-finite', 'step 3']),
    (lambda a: a.pop('/observations/qpos'), None, '/observations/qpos', ['missing']),
    (lambda a: a.update({'/observations/qpos': a['/observations/qpos'][:0], '/action': a['/action'][:0],
                         '/observations/qvel': a['/observations/qvel'][:0],
                         '/observations/images/top': a['/observations/images/top'][:0]}), None,
     '/observations/qpos', ['empty episode']),
    (lambda a: a.__setitem__('/observations/images/top', a['/observations/images/top'].astype(np.float32)), None,
     '/observations/images/top', ['uint8']),
    (lambda a: a.__setitem__('/observations/images/top', a['/observations/images/top'][:4]), None,
     '/observations/images/top', ['4 frames']),
    (None, {'vector_names': '["a", "b"]'}, 'vector_names', ['2 names', '4 entries']),
])
def test_bad_episode_names_file_and_field(tmp_path, change, attrs, field, words):
    arrays, attrs = _bad(change, attrs)
    path = write_episode(tmp_path / 'episode_0.hdf5', arrays=arrays, attrs=attrs)
    with pytest.raises(EpisodeDataError) as error:
        inspect_episode(path, ['top'])
    message = str(error.value)
    assert str(path) in message and field in message
    for word in words:
        assert word in message


def test_not_hdf5_is_named(tmp_path):
    path = tmp_path / 'episode_0.hdf5'
    path.write_bytes(b'not hdf5 at all')
    with pytest.raises(EpisodeDataError, match='cannot open as HDF5'):
        inspect_episode(path)


def test_bad_episode_among_good_ones_stops_training_before_any_write(tmp_path):
    data = write_episodes(tmp_path / 'data', count=3, length=12)
    arrays = episode_arrays(length=12, seed=3)
    arrays['/observations/qpos'][5, 0] = np.inf
    write_episode(data / 'episode_3.hdf5', arrays=arrays)
    output = tmp_path / 'run'
    with pytest.raises(EpisodeDataError, match=r'episode_3\.hdf5: /observations/qpos: non-finite'):
        train(tiny_model_config(), tiny_train_config(steps=2), data, output, progress=None)
    assert not output.exists()


def test_episodes_must_agree(tmp_path):
    data = write_episodes(tmp_path / 'data', count=2, length=8)
    write_episode(data / 'episode_2.hdf5', length=8, cameras=('top', 'angle'))
    write_episode(data / 'episode_3.hdf5', length=8, cameras=('angle',))
    with pytest.raises(EpisodeDataError, match=r'episode_3\.hdf5: /observations/images/top: missing camera'):
        prepare_training_data(data, tiny_model_config(), tiny_train_config(), device=torch.device('cpu'))


def test_state_dim_mismatch_with_config_is_named(tmp_path):
    data = write_episodes(tmp_path / 'data', count=2, length=8)
    with pytest.raises(EpisodeDataError, match=r'model.state_dim is 7 .* /observations/qpos has 4'):
        prepare_training_data(data, tiny_model_config(state_dim=7), tiny_train_config(), device=torch.device('cpu'))


def _episode(length, start_value, dim=2):
    qpos = np.arange(start_value, start_value + length, dtype=np.float32)[:, None].repeat(dim, 1)
    return Episode(info=None, qpos=qpos, action=qpos + 1000)


def test_chunks_are_the_next_actions_padded_and_masked_past_the_end():
    identity = Normalization(VectorStats(np.zeros(2), np.ones(2)), VectorStats(np.zeros(2), np.ones(2)), 0.01)
    vectors = ChunkVectors([_episode(5, 0), _episode(3, 100)], identity, chunk_size=4)
    qpos, actions, is_pad = vectors.gather(np.array([0, 3, 5, 7]))
    assert qpos[:, 0].tolist() == [0, 3, 100, 102]
    assert actions[0, :, 0].tolist() == [1000, 1001, 1002, 1003]
    assert is_pad[0].tolist() == [False] * 4
    # Frame 3 of episode 0 (length 5): steps 3, 4 valid, then padding (never episode 1's actions).
    assert actions[1, :2, 0].tolist() == [1003, 1004] and is_pad[1].tolist() == [False, False, True, True]
    assert 1100 not in actions[1, :, 0].tolist()
    # Last frame of episode 1: one valid step.
    assert actions[3, 0, 0].item() == 1102 and is_pad[3].tolist() == [False, True, True, True]


def test_normalization_uses_floored_std_and_round_trips():
    stats = VectorStats.of([np.array([[1.0, 5.0], [3.0, 5.0]])], std_floor=0.01)
    assert stats.mean.tolist() == [2.0, 5.0] and stats.std.tolist() == [1.0, 0.01]
    values = torch.tensor([[4.0, 5.02]], dtype=torch.float64)
    assert torch.allclose(stats.normalize(values), torch.tensor([[2.0, 2.0]], dtype=torch.float64))
    assert torch.allclose(stats.denormalize(stats.normalize(values)), values)
    normalization = Normalization(stats, stats, 0.01)
    again = Normalization.from_json(normalization.to_json())
    assert np.array_equal(again.qpos.std, stats.std) and again.std_floor == 0.01
    with pytest.raises(ValueError, match='normalization.json: malformed'):
        Normalization.from_json('{"qpos": {"mean": [0], "std": [0]}, "action": {"mean": [0], "std": [1]}}')


def test_sampler_is_a_function_of_seed_and_step_and_splits_ranks():
    frames = np.arange(10, 30)
    a, b = StepSampler(frames, 8, seed=5), StepSampler(frames, 8, seed=5)
    steps = [a.global_indices(k).tolist() for k in range(6)]
    assert steps == [b.global_indices(k).tolist() for k in range(6)]  # same stream, independent objects
    assert [b.global_indices(k).tolist() for k in (4, 1, 5)] == [steps[4], steps[1], steps[5]]  # random access
    # Each epoch (20 frames) visits every frame once.
    stream = np.concatenate([a.global_indices(k) for k in range(5)])  # 40 positions = 2 epochs
    assert sorted(stream[:20]) == list(range(10, 30)) and sorted(stream[20:]) == list(range(10, 30))
    assert np.array_equal(np.concatenate([a.rank_indices(3, r, 2) for r in range(2)]), a.global_indices(3))
    assert StepSampler(frames, 8, seed=6).global_indices(0).tolist() != steps[0]


def test_split_by_episode_and_validation_samples():
    names = [f'episode_{i}.hdf5' for i in range(10)]
    train_names, val_names = split_episodes(names, 0.2, seed=0)
    assert len(val_names) == 2 and not set(train_names) & set(val_names) and len(train_names) == 8
    assert split_episodes(names, 0.2, seed=0) == (train_names, val_names)
    assert split_episodes(names[:1], 0.2, seed=0) == (names[:1], [])
    assert split_episodes(names[:2], 0.01, seed=0)[1] != []  # at least one held out
    assert validation_frames(np.arange(100), 5).tolist() == [0, 25, 50, 74, 99]


def test_resize_to_model_size():
    frames = np.zeros((3, 48, 64, 3), dtype=np.uint8)
    frames[:, :24] = 200
    out = frames_to_model_size(frames, (24, 32))
    assert out.shape == (3, 3, 24, 32) and out.dtype == torch.uint8
    assert out[0, 0, 5, 5] == 200 and out[0, 0, 20, 5] == 0
    same = frames_to_model_size(frames, (48, 64))
    assert torch.equal(same, torch.from_numpy(frames).permute(0, 3, 1, 2))
    with pytest.raises(ValueError, match='uint8'):
        frames_to_model_size(frames.astype(np.float32), (24, 32))


def test_resize_matches_float_bilinear_to_within_one_and_every_cpu_kernel_exactly():
    import subprocess
    import sys

    import torch.nn.functional as F

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (4, 96, 128, 3), dtype=np.uint8)
    frames[:, 20:60, 30:90] = (250, 10, 120)  # edges, where the two ways of rounding can differ
    out = frames_to_model_size(frames, (24, 32))
    reference = F.interpolate(torch.from_numpy(frames).permute(0, 3, 1, 2).float(), size=(24, 32), mode='bilinear',
                              antialias=True, align_corners=False).round().clamp(0, 255)
    assert (out.float() - reference).abs().max() <= 1.0
    # The vectorized kernels (AVX2, AVX-512) and the plain one give the same bytes, so a
    # policy sees the frames it was trained on whatever CPU either ran on.
    script = ('import sys, numpy as np; from act_training.data.images import frames_to_model_size; '
              'f = np.random.default_rng(0).integers(0, 256, (4, 96, 128, 3), dtype=np.uint8); '
              'sys.stdout.buffer.write(frames_to_model_size(f, (24, 32)).numpy().tobytes())')
    produced = {}
    for capability in ('default', 'avx2'):
        done = subprocess.run([sys.executable, '-c', script], capture_output=True, timeout=120,
                              env={**os.environ, 'ATEN_CPU_CAPABILITY': capability})
        assert done.returncode == 0, done.stderr.decode()
        produced[capability] = done.stdout
    here = frames_to_model_size(np.random.default_rng(0).integers(0, 256, (4, 96, 128, 3), dtype=np.uint8), (24, 32))
    assert produced['default'] == produced['avx2'] == here.numpy().tobytes()


def test_in_memory_and_lazy_loading_give_identical_batches(tmp_path):
    data = write_episodes(tmp_path / 'data', count=3, length=10, height=48, width=64)
    config = tiny_model_config(image_height=32, image_width=40)  # a resize at load time
    device = torch.device('cpu')
    memory = prepare_training_data(data, config, tiny_train_config(), device=device)
    lazy = prepare_training_data(data, config, tiny_train_config(memory_budget_gb=0.0, num_workers=2), device=device)
    assert memory.in_memory and not lazy.in_memory
    sampler = StepSampler(memory.train_frames, 4, seed=0)
    from_memory = list(memory.source.iterate(sampler, range(3), 0, 1))
    from_workers = list(lazy.source.iterate(sampler, range(3), 0, 1))
    assert [s for s, _ in from_memory] == [s for s, _ in from_workers] == [0, 1, 2]
    for (_, a), (_, b) in zip(from_memory, from_workers):
        for name in ('images', 'qpos', 'actions', 'is_pad'):
            assert torch.equal(getattr(a, name), getattr(b, name)), name
    batch = from_memory[0][1]
    assert batch.images.shape == (4, 1, 3, 32, 40) and batch.images.dtype == torch.uint8
    # The frame of a sample is the one recorded at its start step.
    frame = int(sampler.global_indices(0)[0])
    episode = int(memory.source.vectors.index.episode_of[frame])
    step = frame - int(memory.source.vectors.index.starts[episode])
    name = memory.info.train_episodes[episode]
    with h5py.File(data / name) as h5:
        expected = frames_to_model_size(h5['/observations/images/top'][step:step + 1], (32, 40))[0]
    assert torch.equal(batch.images[0, 0], expected)


def test_aloha_names_assumed_for_datasets_without_attributes(tmp_path):
    arrays = episode_arrays(length=5)
    arrays['/observations/qpos'] = np.zeros((5, 14), np.float32)
    arrays['/observations/qvel'] = np.zeros((5, 14), np.float32)
    arrays['/action'] = np.zeros((5, 14), np.float32)
    write_episode(tmp_path / 'episode_0.hdf5', arrays=arrays, attrs={'vector_names': None, 'control_rate_hz': None})
    write_episode(tmp_path / 'episode_1.hdf5', arrays=arrays, attrs={'vector_names': None, 'control_rate_hz': None})
    data = prepare_training_data(tmp_path, tiny_model_config(), tiny_train_config(), device=torch.device('cpu'))
    assert data.info.vector_names == ALOHA_VECTOR_NAMES and data.info.control_rate_hz == 50.0
    assert data.model_config.state_dim == 14
    assert read_vectors(inspect_episode(tmp_path / 'episode_0.hdf5')).qpos.dtype == np.float32
    assert FrameIndex([5, 5]).n_frames == 10
