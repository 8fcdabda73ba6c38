"""Stamps that do not belong to the episode: stamped 0, before the recorded start, after
the recorded stop. Each case is a 1 s episode recorded from 100 s (50 steps at 50 Hz) plus
stray messages; it must convert to exactly what the same bag without strays gives, with
the strays counted in the report."""

import h5py
import numpy as np
import pytest

from act_training.conversion import ConversionConfig, convert_episodes
from conversion_synthetic_bags import ROBOT, joint_signal, write_bag

LEFT = ROBOT.arms[0].follower.joint_states_topic
RIGHT = ROBOT.arms[1].follower.joint_states_topic
CAMERA = ROBOT.camera('top').topic
ACTION = ROBOT.action_topic
EVERY_TOPIC = (LEFT, RIGHT, CAMERA, ACTION)
CLEAN = dict(duration_s=1.0, start_s=100.0, joint_hz=50.0, camera_hz=30.0, jitter_s=0.0)


def convert(tmp_path, name, **kwargs):
    options = {key: kwargs.pop(key) for key in ('time_source', 'max_gap_s') if key in kwargs}
    bag = write_bag(tmp_path / name / 'episode_0', **CLEAN, **kwargs)
    config = ConversionConfig(bags=(bag.path,), output_dir=tmp_path / name / 'hdf5', robot=ROBOT, **options)
    [result] = convert_episodes(config).results
    assert result.status == 'converted', result.summary()
    with h5py.File(result.output, 'r') as episode:
        return result, episode['/observations/qpos'][()], episode['/action'][()], episode['/observations/images/top'][()]


CASES = {
    # The issue's input: one left follower message stamped 0 (sim time before the first /clock).
    'one_zero_stamp': dict(strays=[(LEFT, 0.0, 100.5)], window=(100.0, 101.0)),
    # Zero stamps on every topic, and a gap limit that would let a 100 s pause through.
    'zero_stamps_on_every_topic': dict(strays=[(t, 0.0, 100.5) for t in EVERY_TOPIC], window=(100.0, 101.0),
                                       max_gap_s=1000.0),
    # Zero stamps with no recorded window at all (a foreign bag without episode.json).
    'zero_stamps_without_window': dict(strays=[(t, 0.0, 100.5) for t in EVERY_TOPIC], write_episode_json=False),
    # Messages left from before the start (the previous episode's last frames and states).
    'before_the_start': dict(strays=[(t, 98.0 + k * 0.02, 100.0) for t in EVERY_TOPIC for k in range(3)],
                             window=(100.0, 101.0)),
    # Messages stamped after the stop (written while the bag was closing).
    'after_the_stop': dict(strays=[(t, 103.0, 103.0) for t in EVERY_TOPIC], window=(100.0, 101.0)),
    # The window from the bag's custom data (act.start_time_ns / act.stop_time_ns) only.
    'window_from_bag_metadata': dict(strays=[(t, 97.0, 100.5) for t in EVERY_TOPIC], write_episode_json=False,
                                     custom_window=(100.0, 101.0)),
    # Header stamps on another clock than the recorder's (publishers on sim time, recorder on
    # the wall clock, 10^6 s apart): the recorded window applies to the log times only.
    'stamps_on_another_clock': dict(strays=[(LEFT, 0.0, 100.5)] + [(t, 100.5, 99.0) for t in EVERY_TOPIC],
                                    log_shift_s=1e6, window=(1e6 + 100.0, 1e6 + 101.0)),
}


@pytest.mark.parametrize('case', sorted(CASES))
def test_stamps_outside_the_episode_are_dropped_and_counted(tmp_path, case):
    kwargs = dict(CASES[case])
    strays = kwargs['strays']
    result, qpos, action, images = convert(tmp_path, case, **kwargs)
    assert result.frames == 50 and len(qpos) == 50  # 1 s at 50 Hz
    # The first frame is the episode's first: frame 0 (pixel value 0), not a stray (250).
    assert images[0, 1, 1, 0] == 0 and not np.any(images[:, 1, 1, 0] == 250)
    np.testing.assert_allclose(qpos[0], joint_signal([100.0])[0], atol=1e-9)
    # Equal to the same bag without strays.
    _, clean_qpos, clean_action, clean_images = convert(tmp_path, case + '_clean')
    np.testing.assert_array_equal(qpos, clean_qpos)
    np.testing.assert_array_equal(action, clean_action)
    np.testing.assert_array_equal(images, clean_images)
    assert sum(drops.total for drops in result.dropped.values()) == len(strays)
    assert set(result.dropped) == {topic for topic, _, _ in strays}
    assert 'dropped outside the episode' in result.summary()


def test_the_issue_example_is_no_longer_rejected_for_a_100_s_gap(tmp_path):
    result, qpos, _, _ = convert(tmp_path, 'issue', strays=[(LEFT, 0.0, 100.5)], window=(100.0, 101.0))
    assert result.dropped[LEFT].zero == 1 and '1 stamped 0' in result.summary()
    assert max(t.max_gap_s for t in result.timings) < 0.05


def test_receive_time_source_drops_zero_log_times(tmp_path):
    # Log time 0 (a recorder whose sim clock had not started) with a plausible header stamp.
    strays = [(t, 100.5, 0.0) for t in EVERY_TOPIC]
    result, qpos, action, images = convert(tmp_path, 'receive', strays=strays, window=(100.0, 101.0),
                                           time_source='receive')
    _, clean_qpos, clean_action, clean_images = convert(tmp_path, 'receive_clean', time_source='receive')
    # Log times trail the stamps by 0.5..2 ms, so the grid starts on the first command after the
    # last stream's first message: 100.0205 s; it ends at the last joint state, 100.981 s.
    assert result.frames == 49 and images[0, 1, 1, 0] == 0
    np.testing.assert_array_equal(qpos, clean_qpos)
    np.testing.assert_array_equal(action, clean_action)
    np.testing.assert_array_equal(images, clean_images)
    assert {topic: drops.zero for topic, drops in result.dropped.items()} == {t: 1 for t in EVERY_TOPIC}


def test_a_topic_with_no_message_inside_the_window_names_topic_and_window(tmp_path):
    bag = write_bag(tmp_path / 'episode_0', **CLEAN, window=(200.0, 201.0))
    config = ConversionConfig(bags=(bag.path,), output_dir=tmp_path / 'hdf5', robot=ROBOT)
    [result] = convert_episodes(config).results
    assert result.status == 'failed'
    assert 'belongs to the episode window' in result.reason and 'before start' in result.reason
    assert str(bag.path) in result.reason
