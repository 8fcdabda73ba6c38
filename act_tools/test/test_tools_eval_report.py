"""act eval's pieces that need no simulator: config checks, the report, video frame timing."""

import json
import math

import numpy as np
import pytest

from act_tools.evaluation import EVAL_SEED_START, EpisodeOutcome, EvalConfig, EvalReport, frames_on_grid


def timing(ticks, misses, held, chunks, latency_ms, latency_count):
    summary = {'count': latency_count, 'mean': latency_ms, 'p50': latency_ms, 'p99': latency_ms * 2,
               'max': latency_ms * 3}
    empty = {'count': 0, 'mean': math.nan, 'p50': math.nan, 'p99': math.nan, 'max': math.nan}
    return {'ticks': ticks, 'deadline_misses': misses, 'missed_fraction': 0.0, 'held_ticks': held,
            'chunks_computed': chunks, 'tick_lateness_ms': empty, 'tick_duration_ms': empty,
            'inference_latency_ms': summary, 'observation_to_command_ms': summary, 'ensemble_depth': empty}


def test_report_aggregates_episodes(tmp_path):
    episodes = [
        EpisodeOutcome(0, 10, True, 4.0, 4.0, 4.0, 400, 9.0, timing(398, 2, 10, 40, 100.0, 40)),
        EpisodeOutcome(1, 11, False, 2.0, 1.0, 4.0, 400, 9.0, timing(400, 0, 5, 60, 50.0, 60)),
    ]
    report = EvalReport('ck', 'ck-1234', 'transfer_cube', [10, 11], 400, 'realtime', 1.0, 'cpu', {},
                        {'shadow_map_size': 0, 'multisamples': 0}, episodes, execution='chunked execution')
    assert report.success_rate == 0.5 and report.mean_max_reward == 3.0 and report.max_max_reward == 4.0
    loop = report.control_loop()
    assert loop['ticks'] == 798 and loop['deadline_misses'] == 2 and loop['missed_fraction'] == pytest.approx(2 / 800)
    assert loop['inference_latency_ms']['mean'] == pytest.approx((100 * 40 + 50 * 60) / 100)
    assert loop['inference_latency_ms']['max'] == 300.0 and loop['inference_latency_ms']['worst_p99'] == 200.0
    written = json.loads(report.write_json(tmp_path / 'r.json').read_text())
    assert written['success_rate'] == 0.5 and len(written['per_episode']) == 2
    assert written['success']['episodes'] == 2 and written['success']['seeds'] == [10, 11]
    assert written['success']['mode'] == 'realtime' and written['success']['ci95_low'] == pytest.approx(0.0945, abs=1e-4)
    assert written['per_episode'][1]['final_reward'] == 1.0
    table = report.table()
    assert 'success 1/2 = 50 % (95 % CI 9-91 %), realtime, seeds 10, 11, chunked execution' in table
    assert '2 missed of 800 ticks' in table
    assert written['execution'] == 'chunked execution' and written['success']['text'].endswith(', chunked execution')


def test_config_is_checked(tmp_path):
    checkpoint = tmp_path / 'ck'
    checkpoint.mkdir()
    config = EvalConfig(checkpoint=checkpoint, episodes=3)
    assert list(config.seeds) == [EVAL_SEED_START, EVAL_SEED_START + 1, EVAL_SEED_START + 2]
    with pytest.raises(ValueError, match='unknown task'):
        EvalConfig(checkpoint=checkpoint, task='stack_cups')
    with pytest.raises(ValueError, match='real_time_factor'):
        EvalConfig(checkpoint=checkpoint, real_time_factor=0.0)
    with pytest.raises(ValueError, match='mode'):
        EvalConfig(checkpoint=checkpoint, mode='fast')
    assert EvalConfig(checkpoint=checkpoint, mode='lockstep').mode == 'lockstep'
    with pytest.raises(ValueError, match='is not a folder'):
        EvalConfig(checkpoint=tmp_path / 'missing')
    with pytest.raises(ValueError, match='episodes'):
        EvalConfig(checkpoint=checkpoint, episodes=0)


def test_dropped_frames_repeat_the_previous_one():
    period = 20
    frames = [(0, np.full((2, 2, 3), 0, np.uint8)), (20, np.full((2, 2, 3), 1, np.uint8)),
              (80, np.full((2, 2, 3), 4, np.uint8))]
    grid = frames_on_grid(frames, period)
    assert [int(frame[0, 0, 0]) for frame in grid] == [0, 1, 1, 1, 4]
    assert frames_on_grid([], period) == []
