"""Bags cut by a crash: recovered, converted marked truncated or rejected, repaired beside."""

import hashlib
import json

import h5py
import pytest
from rosbags.highlevel import AnyReader

from act_training.conversion import ConversionConfig, convert_episodes
from act_training.conversion.bag_recovery import (MIN_RECOVERED_S, RecoveredBagReader, RecoveryError, repair_bag,
                                                   scan_mcap)
from act_training.conversion.converter import find_episode_bags
from conversion_synthetic_bags import ROBOT, STORE, write_bag

# 240x320 rgb8 frames at 30 Hz: ~7 MB/s, so rosbags' 1 MiB chunks hold ~0.15 s each.
IMAGE_SHAPE = (240, 320)


def convert(tmp_path, bags):
    return convert_episodes(ConversionConfig(bags=tuple(bags), output_dir=tmp_path / 'hdf5', robot=ROBOT))


def whole_messages(bag):
    with AnyReader([bag], default_typestore=STORE) as reader:
        return [(c.topic, t, bytes(raw)) for c, t, raw in reader.messages()]


def cut(bag, fraction):
    storage = next(bag.glob('*.mcap'))
    data = storage.read_bytes()
    storage.write_bytes(data[:int(len(data) * fraction)])
    return storage


def test_the_half_cut_bag_converts_its_first_half_marked_truncated_and_its_neighbours_untouched(tmp_path):
    bags = [write_bag(tmp_path / 'bags' / f'episode_{k}', index=k, duration_s=6.0, image_shape=IMAGE_SHAPE).path
            for k in range(3)]
    cut(bags[1], 0.5)
    report = convert(tmp_path, find_episode_bags([tmp_path / 'bags']))
    status = {r.bag.name: r for r in report.results}
    assert [status[f'episode_{k}'].status for k in range(3)] == ['converted'] * 3, [r.summary() for r in report.results]
    cut_result = status['episode_1']
    assert 'TRUNCATED' in cut_result.summary() and 'truncated at byte' in cut_result.truncated
    assert not status['episode_0'].truncated and not status['episode_2'].truncated
    with h5py.File(cut_result.output, 'r') as episode:
        assert bool(episode.attrs['truncated']) and 'recovered' in episode.attrs['recovery']
        steps = episode['/action'].shape[0]
    with h5py.File(status['episode_0'].output, 'r') as episode:
        assert not bool(episode.attrs['truncated'])
        whole_steps = episode['/action'].shape[0]
    # Half the bytes are about half the episode (the images dominate the file).
    assert 0.35 * whole_steps < steps < 0.6 * whole_steps


def test_a_bag_with_less_than_the_minimum_left_is_rejected_with_the_reason(tmp_path):
    bag = write_bag(tmp_path / 'bags' / 'episode_0', duration_s=6.0, image_shape=IMAGE_SHAPE).path
    cut(bag, 0.08)
    survived = scan_mcap(bag)
    assert survived.truncated and 0 < survived.duration_s < MIN_RECOVERED_S
    result = convert(tmp_path, [bag]).results[0]
    assert result.status == 'rejected' and 'survived the cut' in result.reason and 'TRUNCATED' in result.summary()
    assert not (tmp_path / 'hdf5' / 'episode_0.hdf5').exists()


def test_a_cut_before_any_topic_was_written_fails_naming_the_bag(tmp_path):
    bag = write_bag(tmp_path / 'bags' / 'episode_0').path
    cut(bag, 0.001)
    result = convert(tmp_path, [bag]).results[0]
    assert result.status == 'failed' and str(bag) in result.reason and 'recovery found nothing usable' in result.reason
    with pytest.raises(RecoveryError, match='no complete chunk'):
        scan_mcap(bag)


def test_a_whole_mcap_without_metadata_yaml_converts_untruncated(tmp_path):
    bag = write_bag(tmp_path / 'bags' / 'episode_0').path
    (bag / 'metadata.yaml').unlink()
    result = convert(tmp_path, [bag]).results[0]
    assert result.status == 'converted' and not result.truncated, result.summary()


def test_a_zero_filled_tail_stops_the_scan_and_keeps_what_is_before(tmp_path):
    bag = write_bag(tmp_path / 'bags' / 'episode_0', duration_s=4.0, image_shape=IMAGE_SHAPE).path
    original = whole_messages(bag)
    storage = next(bag.glob('*.mcap'))
    data = storage.read_bytes()
    keep = len(data) // 2
    storage.write_bytes(data[:keep] + bytes(len(data) - keep))  # power loss: blocks allocated, never written
    reader = RecoveredBagReader(bag, _fresh_store())
    recovered = [(c.topic, t, bytes(raw)) for c, t, raw in reader.messages()]
    assert reader.report.truncated and ("zero bytes" in reader.report.stop_reason or "cut inside" in reader.report.stop_reason)
    assert 0 < len(recovered) < len(original) and recovered == original[:len(recovered)]


def _fresh_store():
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_KILTED)


def test_repair_writes_a_valid_bag_beside_and_never_changes_the_original(tmp_path):
    bag = write_bag(tmp_path / 'bags' / 'episode_4', index=4, duration_s=4.0, image_shape=IMAGE_SHAPE).path
    original = whole_messages(bag)
    storage = cut(bag, 0.6)
    before = hashlib.sha256(storage.read_bytes()).hexdigest()
    output, report = repair_bag(bag)
    assert output == bag.with_name('episode_4.repaired') and output.is_dir()
    assert hashlib.sha256(storage.read_bytes()).hexdigest() == before
    repaired = whole_messages(output)  # opens through the footer and metadata.yaml
    assert len(repaired) == report.message_count and repaired == original[:len(repaired)]
    episode = json.loads((output / 'episode.json').read_text())
    assert episode['truncated'] is True and episode['task'] == 'synthetic_task' and episode['episode_index'] == 4
    assert 'act.truncated: \'true\'' in (output / 'metadata.yaml').read_text()
    assert scan_mcap(output).complete
    with pytest.raises(FileExistsError):
        repair_bag(bag)
    # The repaired bag converts like any bag (whole, not truncated).
    result = convert(tmp_path, [output]).results[0]
    assert result.status == 'converted' and not result.truncated, result.summary()
