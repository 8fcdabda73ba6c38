"""The synchronizer returns the newest set of messages that belong together in time."""

import threading

import pytest

from act_policy_node.observation_sync import ObservationSynchronizer

MS = 1_000_000


def test_nothing_until_every_source_has_a_message():
    sync = ObservationSynchronizer(['cam', 'joints'])
    sync.store('cam', 100 * MS, 'c100')
    assert sync.newest_set(10 * MS) is None
    sync.store('joints', 100 * MS, 'j100')
    observation = sync.newest_set(10 * MS)
    assert observation.messages == {'cam': 'c100', 'joints': 'j100'} and observation.stamp_ns == 100 * MS


def test_pairs_the_image_with_the_joint_states_of_its_own_tick():
    # The sim publishes the images of tick k before its joint states: a reader in between
    # sees images of k and joint states of k - 1. The set of tick k - 1 is the newest pair.
    sync = ObservationSynchronizer(['cam', 'joints'])
    for tick in range(3):
        sync.store('cam', tick * 20 * MS, f'c{tick}')
        sync.store('joints', tick * 20 * MS, f'j{tick}')
    sync.store('cam', 60 * MS, 'c3')
    observation = sync.newest_set(max_skew_ns=5 * MS)
    assert observation.messages == {'cam': 'c2', 'joints': 'j2'}
    assert observation.skew_ns == 0
    # With a skew of a whole period the newer image is paired with the older joints.
    loose = sync.newest_set(max_skew_ns=20 * MS)
    assert loose.messages == {'cam': 'c3', 'joints': 'j2'} and loose.stamp_ns == 60 * MS and loose.skew_ns == 20 * MS


def test_newer_than_and_out_of_range_skew():
    sync = ObservationSynchronizer(['cam', 'joints'])
    sync.store('cam', 0, 'c0')
    sync.store('joints', 50 * MS, 'j50')
    assert sync.newest_set(10 * MS) is None  # 50 ms apart
    sync.store('cam', 52 * MS, 'c52')
    assert sync.newest_set(10 * MS).stamp_ns == 52 * MS
    assert sync.newest_set(10 * MS, newer_than_ns=52 * MS) is None


def test_history_is_bounded_and_reordered_messages_are_dropped():
    sync = ObservationSynchronizer(['cam'], history=2)
    for tick in range(5):
        sync.store('cam', tick * MS, tick)
    sync.store('cam', 1 * MS, 'late')  # older than the newest: ignored
    assert sync.newest('cam').message == 4
    assert sync.newest_stamps() == {'cam': 4 * MS}
    sync.clear()
    assert sync.newest('cam') is None and sync.newest_stamps() == {'cam': None}


def test_wait_for_new_wakes_on_store():
    sync = ObservationSynchronizer(['cam'])
    threading.Timer(0.05, lambda: sync.store('cam', 1, 'x')).start()
    assert sync.wait_for_new(0, timeout_s=5.0) == 1


def test_bad_construction():
    with pytest.raises(ValueError, match='unique'):
        ObservationSynchronizer(['a', 'a'])
    with pytest.raises(ValueError, match='at least one'):
        ObservationSynchronizer([])
