"""The recorded episode's on-disk format: names, episode.json, custom_data, the facts a
converter reads from them in order of precedence."""

import json

import pytest

from act_common.episode_format import (EpisodeFormatError, EpisodeRecord, custom_data_of, episode_dir_name,
                                       episode_file_name, episode_index_of, existing_episode_indices, is_bag_folder,
                                       next_episode_index, read_episode_facts, read_episode_record)


def _record(**changes) -> EpisodeRecord:
    fields = dict(task='transfer_cube', episode_index=4, seed=7, robot='aloha_sim', robot_config='/x.yaml',
                  simulated=True, storage_id='mcap', bag_path='/b/episode_4', start_time_ns=1_000_000_000,
                  stop_time_ns=3_500_000_000, success=True, camera_sizes={'top': [480, 640]})
    fields.update(changes)
    return EpisodeRecord(**fields)


def test_names_round_trip_and_other_names_have_no_index(tmp_path):
    assert episode_dir_name(12) == 'episode_12' and episode_file_name(12) == 'episode_12.hdf5'
    assert episode_index_of('episode_12') == 12 and episode_index_of('episode_12.hdf5', '.hdf5') == 12
    assert episode_index_of('episode_12.hdf5') is None and episode_index_of('episode_x') is None
    (tmp_path / 'episode_2').mkdir()
    (tmp_path / 'episode_5.hdf5').write_bytes(b'')
    (tmp_path / 'notes').mkdir()
    assert existing_episode_indices(tmp_path) == [2, 5] and next_episode_index(tmp_path) == 6
    assert next_episode_index(tmp_path / 'missing') == 0


def test_a_bag_folder_is_known_by_its_metadata_or_its_storage_file(tmp_path):
    (tmp_path / 'a').mkdir()
    (tmp_path / 'a' / 'x.mcap').write_bytes(b'')
    (tmp_path / 'b').mkdir()
    (tmp_path / 'b' / 'metadata.yaml').write_text('')
    (tmp_path / 'c').mkdir()
    assert [is_bag_folder(tmp_path / name) for name in 'abc'] == [True, True, False]


def test_custom_data_holds_strings_json_and_lowercase_booleans():
    custom = _record().custom_data()
    assert custom['act.task'] == 'transfer_cube' and custom['act.success'] == 'true'
    assert custom['act.seed'] == '7' and json.loads(custom['act.camera_sizes']) == {'top': [480, 640]}
    assert custom['act.render_settings'] == 'null'
    assert custom_data_of({'success': False, 'robot': 'r'}, names=('success',)) == {'act.success': 'false'}


def test_episode_json_round_trips_and_ignores_keys_a_repair_adds(tmp_path):
    record = _record()
    data = json.loads(record.to_json())
    data.update(truncated=True, recovered_from='/elsewhere')
    (tmp_path / 'episode.json').write_text(json.dumps(data))
    assert read_episode_record(tmp_path) == record
    assert read_episode_record(tmp_path / 'none') is None


def test_facts_come_from_episode_json_then_custom_data_then_the_folder_name(tmp_path):
    bag = tmp_path / 'episode_9'
    bag.mkdir()
    custom = {'act.task': 'from_custom', 'act.seed': '3', 'act.success': 'true', 'act.start_time_ns': '5'}
    facts = read_episode_facts(bag, custom, 'default', 0)
    assert (facts.task, facts.seed, facts.success, facts.episode_index, facts.window()) == \
        ('from_custom', 3, True, 9, (5, None))
    (bag / 'episode.json').write_text(json.dumps({'task': 'from_json', 'stop_time_ns': 8}))
    facts = read_episode_facts(bag, custom, 'default', 0)
    assert (facts.task, facts.seed, facts.window()) == ('from_json', 3, (5, 8))
    assert read_episode_facts(tmp_path / 'other', None, 'default', 4).task == 'default'
    assert read_episode_facts(tmp_path / 'other', None, 'default', 4).episode_index == 4


def test_unreadable_episode_json_and_custom_json_are_errors_naming_the_bag(tmp_path):
    (tmp_path / 'episode.json').write_text('{not json')
    with pytest.raises(EpisodeFormatError, match='episode.json is unreadable'):
        read_episode_facts(tmp_path, None, 'default', 0)
    (tmp_path / 'episode.json').unlink()
    with pytest.raises(EpisodeFormatError, match='act.camera_sizes is not JSON'):
        read_episode_facts(tmp_path, {'act.task': 't', 'act.camera_sizes': '{'}, 'default', 0)
