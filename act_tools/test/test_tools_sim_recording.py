"""`act record --sim` end to end: scripted leader -> teleop -> sim, recorded into a bag
that rosbags and the mcap library both read, with one message per step on every topic."""

import yaml
import pytest

from act_tools.sim_recording import SimRecordingConfig, record_sim_episodes
from act_common.interfaces import TASK_REWARD_TOPIC

STEPS = 400  # transfer_cube episode length


@pytest.mark.slow  # a whole episode recorded through sim_node, teleop and the recorder
@pytest.mark.timeout(300)
def test_one_scripted_episode_is_recorded_through_teleop(tmp_path):
    config = SimRecordingConfig(task='transfer_cube', episodes=1, output_dir=tmp_path / 'bags', cameras=('top',),
                                seed_start=3, max_attempts=2, overrides={'sim_node': {'shadow_map_size': 0}})
    seen = []
    records = record_sim_episodes(config, on_episode=lambda result, kept: seen.append((result, kept)))
    assert len(records) == 1, [result.summary() for result, _ in seen]
    record = records[0]
    assert record.success and record.kept and record.task == 'transfer_cube' and record.seed in (3, 4)
    assert record.dropped_count == 0
    bag = tmp_path / 'bags' / 'episode_0'
    assert record.bag_path == str(bag)

    from rosbags.highlevel import AnyReader

    counts, last_reward = {}, None
    with AnyReader([bag]) as reader:
        for connection, _, raw in reader.messages():
            counts[connection.topic] = counts.get(connection.topic, 0) + 1
            if connection.topic == TASK_REWARD_TOPIC:
                last_reward = reader.deserialize(raw, connection.msgtype)
    # One message per sim step on every stream; the action misses at most the first tick,
    # when teleop is still reading the follower pose it starts from.
    per_step = ['/cameras/top/image_raw', '/follower_left/joint_states', '/follower_right/joint_states',
                '/leader_left/joint_states', '/leader_right/joint_states', '/clock', TASK_REWARD_TOPIC]
    assert {topic: counts[topic] for topic in per_step} == {topic: STEPS for topic in per_step}
    assert STEPS - 2 <= counts['/act/commanded_action'] <= STEPS
    assert last_reward.success and last_reward.seed == record.seed

    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    mcap_counts = {}
    with open(next(bag.glob('*.mcap')), 'rb') as stream:
        for _, channel, _, decoded in make_reader(stream, decoder_factories=[DecoderFactory()]).iter_decoded_messages():
            mcap_counts[channel.topic] = mcap_counts.get(channel.topic, 0) + 1
            if channel.topic == '/cameras/top/image_raw':
                assert (decoded.height, decoded.width, decoded.encoding) == (480, 640, 'rgb8')
    assert mcap_counts == counts

    metadata = yaml.safe_load((bag / 'metadata.yaml').read_text())['rosbag2_bagfile_information']
    assert {t['topic_metadata']['name']: t['message_count'] for t in metadata['topics_with_message_count']} == counts
    assert metadata['custom_data']['act.success'] == 'true'
