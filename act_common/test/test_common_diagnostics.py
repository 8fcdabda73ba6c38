"""The /diagnostics statuses, computed without ROS: levels at the thresholds."""

import math

import pytest

from act_common.diagnostics import (ERROR, OK, STALE, WARN, Band, age_status, control_status, count_status,
                                    inference_status, queue_status, to_message)


def test_a_band_is_ok_up_to_warn_then_warn_then_error():
    band = Band(warn=0.5, error=2.0)
    assert [band.level(v) for v in (0.0, 0.5, 0.51, 2.0, 2.01)] == [OK, OK, WARN, WARN, ERROR]
    assert Band(warn=0).level(1) == WARN and Band(warn=0).level(0) == OK
    with pytest.raises(ValueError, match='warn 3'):
        Band(warn=3, error=1)


def test_topic_age_is_ok_warn_or_stale_and_never_received_is_stale():
    fresh = age_status('policy_node: observation /cam', '/cam', 0.02, warn_s=0.1, stale_s=0.2)
    assert fresh.level == OK and fresh.values['topic'] == '/cam' and '20 ms' in fresh.message
    assert age_status('n', '/cam', 0.15, 0.1, 0.2).level == WARN
    stale = age_status('n', '/cam', 1.5, 0.1, 0.2)
    assert stale.level == STALE and '1.50 s old' in stale.message
    never = age_status('n', '/cam', None, 0.1, 0.2)
    assert never.level == STALE and 'never received' in never.message and never.values['age_s'] == 'n/a'


def test_inference_latency_and_rate():
    band = Band(0.5, 2.0)
    assert inference_status('i', False, 0, 0.0, math.nan, math.nan, band).message == 'inactive'
    assert inference_status('i', True, 0, 0.0, math.nan, math.nan, band).level == WARN
    ok = inference_status('i', True, 40, 6.0, 0.16, 0.15, band)
    assert ok.level == OK and '6.0 chunks/s' in ok.message and ok.values['latency_mean_s'] == '0.15'
    assert inference_status('i', True, 3, 0.3, 3.0, 2.5, band).level == ERROR


def test_control_deadline_misses_and_holding():
    band = Band(0.05, 0.2)
    assert control_status('c', True, 100, 0, 0, '', band).level == OK
    holding = control_status('c', True, 100, 0, 30, 'stale observation: /cam 0.3 s old', band)
    assert holding.level == WARN and 'stale observation' in holding.message
    assert control_status('c', True, 70, 30, 0, '', band).level == ERROR  # 30 % missed
    assert control_status('c', False, 0, 0, 0, '', band).message == 'inactive'


def test_counters_and_queue_fill():
    assert count_status('s', 'chunks dropped', 1, Band(3)).level == OK
    assert count_status('s', 'chunks dropped', 4, Band(3)).level == WARN
    assert count_status('d', 'messages dropped', 1, Band(0, 0)).level == ERROR
    assert queue_status('q', 0, 100, Band(0.5, 0.9), False).message == 'not recording'
    assert queue_status('q', 60, 100, Band(0.5, 0.9), True).level == WARN
    assert queue_status('q', 95, 100, Band(0.5, 0.9), True).level == ERROR


def test_statuses_become_a_diagnostic_array():
    from builtin_interfaces.msg import Time
    from diagnostic_msgs.msg import DiagnosticStatus

    array = to_message([age_status('teleop: leader left', '/leader_left/joint_states', None, 0.05, 0.1)],
                       Time(sec=5))
    status = array.status[0]
    assert array.header.stamp.sec == 5 and status.level == DiagnosticStatus.STALE
    assert status.name == 'teleop: leader left' and {kv.key for kv in status.values} >= {'topic', 'age_s'}
