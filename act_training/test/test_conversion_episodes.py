"""Conversion of episode bags into ACT HDF5 episodes: signals, layout, bad bags, overwrite."""

import json

import h5py
import numpy as np
import pytest

from act_training.conversion import ConversionConfig, convert_episodes
from act_training.conversion.converter import find_episode_bags
from conversion_synthetic_bags import ROBOT, START_S, action_signal, joint_signal, write_bag

# Linear interpolation of 0.3 rad sines (<= 1.05 Hz) sampled at 37 Hz with 3 ms jitter
# errs by at most dt^2/8 * max|q''| = 0.033^2/8 * 0.3 * (2 pi 1.05)^2 = 1.8e-3 rad.
SIGNAL_TOLERANCE = 2e-3


def convert(tmp_path, bags, **kwargs):
    config = ConversionConfig(bags=tuple(bags), output_dir=tmp_path / 'hdf5', robot=ROBOT, **kwargs)
    return convert_episodes(config)


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_known_signal_is_reproduced_on_the_50hz_grid(tmp_path, storage):
    bag = write_bag(tmp_path / 'bags' / 'episode_0', storage=storage)
    report = convert(tmp_path, [bag.path])
    assert report.ok, [r.summary() for r in report.results]
    result = report.converted[0]
    with h5py.File(result.output, 'r') as episode:
        qpos = episode['/observations/qpos'][()]
        action = episode['/action'][()]
        images = episode['/observations/images/top'][()]
        start_ns = int(episode.attrs['start_time_ns'])
    ticks_s = start_ns / 1e9 + np.arange(len(qpos)) * 0.02
    assert np.all(np.diff(ticks_s) > 0) and ticks_s[0] >= START_S and len(qpos) > 140
    np.testing.assert_allclose(qpos, joint_signal(ticks_s), atol=SIGNAL_TOLERANCE)
    # Commands are stamped at the ticks: exact.
    np.testing.assert_allclose(action, action_signal(ticks_s), atol=1e-12)
    # Images: the newest frame not after each tick.
    expected = np.searchsorted(bag.frame_times, ticks_s + 1e-12, side='right') - 1
    frame_numbers = images[:, 1, 1, 0].astype(int) + 256 * images[:, 0, 0, 0].astype(int)
    np.testing.assert_array_equal(frame_numbers, expected)


def test_hdf5_has_the_exact_act_layout(tmp_path):
    bag = write_bag(tmp_path / 'bags' / 'episode_4', index=4, seed=11, image_shape=(30, 40))
    [result] = convert(tmp_path, [bag.path]).results
    assert result.output.name == 'episode_4.hdf5'
    with h5py.File(result.output, 'r') as episode:
        layout = []
        episode.visititems(lambda name, item: layout.append((name, item.shape, str(item.dtype)) if isinstance(item, h5py.Dataset) else (name,)))
        T = result.frames
        assert sorted(layout) == sorted([
            ('action', (T, 14), 'float64'), ('observations',), ('observations/images',),
            ('observations/images/top', (T, 30, 40, 3), 'uint8'),
            ('observations/qpos', (T, 14), 'float64'), ('observations/qvel', (T, 14), 'float64')])
        attrs = dict(episode.attrs)
    assert bool(attrs['sim']) is True and attrs['task'] == 'synthetic_task' and attrs['robot'] == 'aloha_sim'
    assert json.loads(attrs['vector_names']) == list(ROBOT.vector_names)
    assert json.loads(attrs['camera_names']) == ['top']
    assert attrs['control_rate_hz'] == 50.0 and bool(attrs['success']) and attrs['seed'] == 11
    assert attrs['source'] == str(bag.path)


def test_corrupt_bag_fails_cleanly_while_the_good_one_converts(tmp_path):
    good = write_bag(tmp_path / 'bags' / 'episode_0', index=0)
    bad = write_bag(tmp_path / 'bags' / 'episode_1', index=1)
    storage = next(bad.path.glob('*.mcap'))
    storage.write_bytes(storage.read_bytes()[: storage.stat().st_size // 2])  # truncated mid-recording
    report = convert(tmp_path, find_episode_bags([tmp_path / 'bags']))
    status = {r.bag.name: r for r in report.results}
    assert status['episode_0'].status == 'converted' and status['episode_0'].output.is_file()
    assert status['episode_1'].status == 'failed'
    assert str(bad.path) in status['episode_1'].reason and ('corrupt' in status['episode_1'].reason or 'cannot open' in status['episode_1'].reason)
    assert not (tmp_path / 'hdf5' / 'episode_1.hdf5').exists()
    assert not list((tmp_path / 'hdf5').glob('.*partial'))


def test_missing_topic_and_mismatched_joints_name_the_bag_and_the_problem(tmp_path):
    no_action = write_bag(tmp_path / 'bags' / 'episode_0', index=0, skip_topics=('/act/commanded_action',))
    renamed = write_bag(tmp_path / 'bags' / 'episode_1', index=1, rename_joint=('elbow', 'elbow_joint'))
    report = convert(tmp_path, [no_action.path, renamed.path])
    first, second = report.results
    assert first.status == 'failed' and str(no_action.path) in first.reason
    assert 'topic /act/commanded_action (commanded action) is not in the bag' in first.reason
    assert second.status == 'failed' and str(renamed.path) in second.reason and "joint 'elbow' missing" in second.reason


def test_gaps_beyond_the_threshold_reject_the_episode_with_the_reason(tmp_path):
    gappy = write_bag(tmp_path / 'bags' / 'episode_0', drop_frames=range(30, 45))  # 0.5 s without frames
    [result] = convert(tmp_path, [gappy.path], max_gap_s=0.2).results
    assert result.status == 'rejected'
    assert '/cameras/top/image_raw has a gap of 0.5' in result.reason and 'missing' in result.reason
    small = write_bag(tmp_path / 'bags' / 'episode_1', index=1, drop_frames=[30, 31])
    [kept] = convert(tmp_path, [small.path], max_gap_s=0.2).results
    assert kept.status == 'converted' and kept.late_frames['top'] > 0  # reported, not rejected


def test_nothing_is_overwritten_without_overwrite(tmp_path):
    bag = write_bag(tmp_path / 'bags' / 'episode_0')
    assert convert(tmp_path, [bag.path]).ok
    output = tmp_path / 'hdf5' / 'episode_0.hdf5'
    before = output.stat().st_mtime_ns
    [again] = convert(tmp_path, [bag.path]).results
    assert again.status == 'skipped' and '--overwrite' in again.reason and output.stat().st_mtime_ns == before
    [replaced] = convert(tmp_path, [bag.path], overwrite=True).results
    assert replaced.status == 'converted' and output.stat().st_mtime_ns != before


def test_conversion_config_is_validated(tmp_path):
    with pytest.raises(ValueError, match="action_source must be one of"):
        ConversionConfig(bags=(), output_dir=tmp_path, robot=ROBOT, action_source='guess')
    with pytest.raises(ValueError, match=r"cameras \['nose'\] are not cameras"):
        ConversionConfig(bags=(), output_dir=tmp_path, robot=ROBOT, cameras=('nose',))


@pytest.mark.parametrize('storage', ['gzip', 'lzf', 'jpeg'])
def test_image_storage_choices_keep_the_frames(tmp_path, storage):
    from act_training.data.episodes import inspect_episode, read_frames

    bag = write_bag(tmp_path / 'bags' / 'episode_0', image_shape=(48, 64))
    [raw] = convert(tmp_path / 'raw', [bag.path]).converted
    [packed] = convert(tmp_path / storage, [bag.path], image_storage=storage).converted
    with h5py.File(raw.output, 'r') as a, h5py.File(packed.output, 'r') as b:
        frames = a['/observations/images/top'][()]
        mine = read_frames(b, '/observations/images/top', 0, len(frames))
        if storage == 'jpeg':
            assert b['/observations/images/top'].ndim == 2 and b.attrs['compress']
            assert b['/compress_len'].shape == (1, len(frames))
            assert np.abs(mine.astype(int) - frames).mean() < 2  # flat synthetic frames at quality 90
        else:
            assert b['/observations/images/top'].compression == storage
            np.testing.assert_array_equal(mine, frames)
        np.testing.assert_array_equal(a['/observations/qpos'][()], b['/observations/qpos'][()])
    assert inspect_episode(packed.output).cameras == {'top': (48, 64)}


@pytest.mark.parametrize('compression', ['png', 'jpeg'])
def test_a_camera_stored_on_its_compressed_topic_converts(tmp_path, compression):
    bag = write_bag(tmp_path / 'bags' / 'episode_0', image_shape=(48, 64))
    packed = write_bag(tmp_path / 'packed' / 'episode_0', image_shape=(48, 64), camera_compression=compression)
    [raw] = convert(tmp_path / 'a', [bag.path]).converted
    [mine] = convert(tmp_path / 'b', [packed.path]).converted
    with h5py.File(raw.output, 'r') as a, h5py.File(mine.output, 'r') as b:
        frames, decoded = a['/observations/images/top'][()], b['/observations/images/top'][()]
    if compression == 'png':
        np.testing.assert_array_equal(decoded, frames)
    else:
        assert np.abs(decoded.astype(int) - frames).mean() < 2
