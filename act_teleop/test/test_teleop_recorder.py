"""RecorderNode writes one standard rosbag2 per episode from another process's streams."""

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import rclpy
import yaml
from act_msgs.srv import StartEpisode, StopEpisode
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor

from act_common.episode_format import read_episode_record
from act_common.interfaces import RECORDER_START_SERVICE, RECORDER_STOP_SERVICE
from act_common.service_calls import call, wait_until_answering
from act_teleop.recorder_node import RecorderNode

ROBOT_PATH = Path(__file__).resolve().parents[2] / 'act_common' / 'config' / 'robots' / 'aloha_sim.yaml'


class Recorder:
    """A RecorderNode plus a client node, spinning in the background."""

    def __init__(self, output_dir, **parameters):
        self.context = Context()
        rclpy.init(context=self.context)
        args = ['--ros-args', '-p', f'robot_config:={ROBOT_PATH}', '-p', f'output_dir:={output_dir}']
        for name, value in parameters.items():
            args += ['-p', f'{name}:={value}']
        self.node = RecorderNode(context=self.context, cli_args=args)
        self.client_node = rclpy.create_node('recorder_client', context=self.context)
        self.start_client = self.client_node.create_client(StartEpisode, RECORDER_START_SERVICE)
        self.stop_client = self.client_node.create_client(StopEpisode, RECORDER_STOP_SERVICE)
        self.executor = SingleThreadedExecutor(context=self.context)  # as recorder_node's main spins it
        self.executor.add_node(self.node)
        self.executor.add_node(self.client_node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def call(self, client, request, timeout_s=60):
        assert client.wait_for_service(timeout_sec=10)
        response = call(client, request, timeout_s)
        assert response is not None, 'service did not answer'
        return response

    def start(self, task='synthetic', index=-1, seed=7):
        return self.call(self.start_client, StartEpisode.Request(task_name=task, episode_index=index, seed=seed))

    def stop(self, success=True, discard=False):
        return self.call(self.stop_client, StopEpisode.Request(success=success, discard=discard))

    def close(self):
        self.executor.shutdown()
        self.thread.join(timeout=5)
        self.node.destroy_node()
        self.client_node.destroy_node()
        rclpy.shutdown(context=self.context)


@pytest.fixture
def recorder(tmp_path):
    made = []

    def make(**parameters):
        made.append(Recorder(tmp_path / 'episodes', **parameters))
        return made[-1]

    yield make
    for each in made:
        each.close()


def publish_streams(seconds, cameras=('top',), height=48, width=64):
    """Runs the synthetic robot in another process; returns its published counts."""
    command = [sys.executable, '-m', 'act_teleop.synthetic_streams', '--robot-config', str(ROBOT_PATH),
               '--cameras', *cameras, '--height', str(height), '--width', str(width), '--duration', str(seconds)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])['published']


@pytest.mark.slow  # the synthetic robot in another process
@pytest.mark.timeout(120)
@pytest.mark.parametrize('storage_id', ['mcap', 'sqlite3'])
def test_episode_bag_holds_every_message_and_opens_with_rosbags_and_mcap(recorder, storage_id):
    r = recorder(storage_id=storage_id, cameras='[top]')
    started = r.start(seed=7)
    assert started.result == StartEpisode.Response.RESULT_OK, started.message
    assert started.episode_index == 0
    published = publish_streams(2.0)
    time.sleep(0.3)
    stopped = r.stop(success=True)
    assert stopped.result == StopEpisode.Response.RESULT_OK, stopped.message
    bag = Path(stopped.bag_path)
    assert stopped.message_count == sum(published.values())

    # metadata.yaml as `ros2 bag info` reads it, with the episode in custom_data.
    metadata = yaml.safe_load((bag / 'metadata.yaml').read_text())['rosbag2_bagfile_information']
    assert metadata['storage_identifier'] == storage_id and metadata['version'] >= 8
    assert metadata['custom_data']['act.task'] == 'synthetic' and metadata['custom_data']['act.success'] == 'true'
    counts = {t['topic_metadata']['name']: t['message_count'] for t in metadata['topics_with_message_count']}
    assert counts == published

    record = read_episode_record(bag)
    assert record.success and record.kept and record.seed == 7 and record.robot == 'aloha_sim'
    assert record.dropped_count == 0 and record.cameras == ['top']

    # rosbags reads every message back, and the payloads are the publisher's.
    from rosbags.highlevel import AnyReader

    with AnyReader([bag]) as reader:
        seen = {}
        frames = []
        for connection, _, raw in reader.messages():
            seen[connection.topic] = seen.get(connection.topic, 0) + 1
            if connection.topic == '/cameras/top/image_raw':
                msg = reader.deserialize(raw, connection.msgtype)
                frames.append(int(msg.header.frame_id))
                assert (msg.height, msg.width, msg.encoding) == (48, 64, 'rgb8')
                assert np.frombuffer(msg.data[:24], dtype=np.uint8)[0::3].copy().view(np.int64)[0] == frames[-1]
        assert seen == published
        assert frames == list(range(published['/cameras/top/image_raw']))

    if storage_id == 'mcap':  # an independent reader: the mcap library with its ROS 2 decoder
        from mcap.reader import make_reader
        from mcap_ros2.decoder import DecoderFactory

        with open(next(bag.glob('*.mcap')), 'rb') as stream:
            reader = make_reader(stream, decoder_factories=[DecoderFactory()])
            mcap_counts = {}
            for _, channel, _, decoded in reader.iter_decoded_messages():
                mcap_counts[channel.topic] = mcap_counts.get(channel.topic, 0) + 1
                if channel.topic == '/act/commanded_action':
                    assert len(decoded.position) == 14
        assert mcap_counts == published


@pytest.mark.slow  # the recorder and the synthetic robot in processes of their own
@pytest.mark.timeout(180)
def test_recorder_process_keeps_every_message_of_full_size_streams(tmp_path):
    # `ros2 run act_teleop recorder_node` recording aloha_sim's streams at full size: one
    # 480x640 rgb8 camera at 30 Hz and five joint streams at 50 Hz (27 MB/s). On rclpy's
    # MultiThreadedExecutor this recorder lost about 27 % of each joint stream in DDS.
    from ament_index_python.packages import get_package_prefix

    from child_processes import context_beside

    executable = Path(get_package_prefix('act_teleop')) / 'lib' / 'act_teleop' / 'recorder_node'
    process = subprocess.Popen([str(executable), '--ros-args', '-p', f'robot_config:={ROBOT_PATH}',
                                '-p', f'output_dir:={tmp_path / "episodes"}', '-p', 'cameras:=[top]'])
    with context_beside(process, timeout_s=30) as context:
        node = rclpy.create_node('recorder_process_client', context=context)
        start = node.create_client(StartEpisode, RECORDER_START_SERVICE)
        stop = node.create_client(StopEpisode, RECORDER_STOP_SERVICE)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        spinning = threading.Thread(target=executor.spin, daemon=True)
        spinning.start()
        # Requests the recorder refuses, recording nothing, until each service has answered
        # (the first responses of a just-started process can be lost: see service_calls).
        refused = wait_until_answering(start, StartEpisode.Request(task_name=''), 60)
        assert refused is not None, f'{RECORDER_START_SERVICE} never answered'
        assert refused.result == StartEpisode.Response.RESULT_INVALID_REQUEST, refused.message
        refused = wait_until_answering(stop, StopEpisode.Request(), 60)
        assert refused is not None, f'{RECORDER_STOP_SERVICE} never answered'
        assert refused.result == StopEpisode.Response.RESULT_NOT_RECORDING, refused.message

        started = call(start, StartEpisode.Request(task_name='synthetic', episode_index=-1), 60)
        assert started is not None, f'{RECORDER_START_SERVICE} did not answer'
        assert started.result == StartEpisode.Response.RESULT_OK, started.message
        published = publish_streams(6.0, height=480, width=640)
        time.sleep(0.5)
        stopped = call(stop, StopEpisode.Request(success=True), 60)
        assert stopped is not None, f'{RECORDER_STOP_SERVICE} did not answer'
        assert stopped.result == StopEpisode.Response.RESULT_OK, stopped.message
        executor.shutdown()
        spinning.join(timeout=5)
        node.destroy_node()
    metadata = yaml.safe_load((Path(stopped.bag_path) / 'metadata.yaml').read_text())['rosbag2_bagfile_information']
    stored = {t['topic_metadata']['name']: t['message_count'] for t in metadata['topics_with_message_count']}
    assert stored == published
    assert read_episode_record(Path(stopped.bag_path)).dropped_count == 0


@pytest.mark.timeout(60)
def test_episode_control_errors_and_discard(recorder, tmp_path):
    r = recorder(cameras='[top]')
    assert r.stop().result == StopEpisode.Response.RESULT_NOT_RECORDING
    assert r.start(task='').result == StartEpisode.Response.RESULT_INVALID_REQUEST
    first = r.start(index=3)
    assert first.result == StartEpisode.Response.RESULT_OK and first.episode_index == 3
    again = r.start()
    assert again.result == StartEpisode.Response.RESULT_ALREADY_RECORDING
    kept = r.stop(success=False)
    assert kept.result == StopEpisode.Response.RESULT_OK and Path(kept.bag_path).is_dir()
    assert r.start(index=3).result == StartEpisode.Response.RESULT_INVALID_REQUEST  # index taken
    discarded_start = r.start()
    assert discarded_start.episode_index == 4
    discarded = r.stop(discard=True)
    assert discarded.result == StopEpisode.Response.RESULT_OK and discarded.bag_path == ''
    assert not Path(discarded_start.bag_path).exists()
    assert sorted(p.name for p in (tmp_path / 'episodes').iterdir()) == ['episode_3']
    assert not read_episode_record(tmp_path / 'episodes' / 'episode_3').success


def test_bad_parameters_are_clear_errors(recorder):
    with pytest.raises(ValueError, match=r"storage_id must be one of mcap, sqlite3, got 'zip'"):
        recorder(storage_id='zip')
    with pytest.raises(ValueError, match=r"cameras: \['nose'\] are not cameras"):
        recorder(cameras='[nose]')


def test_extra_topics_are_parsed_and_recorded_reliably():
    from act_common.robot_config import load_robot_config
    from act_teleop.recorder_node import RELIABLE_RECORD_QOS, parse_extra_topics, recorded_topics

    robot = load_robot_config(Path(__file__).resolve().parents[2] / 'act_common' / 'config' / 'robots' / 'aloha_sim.yaml')
    extra = parse_extra_topics(['', '/act/policy/action_chunk=act_msgs/msg/ActionChunk'])
    topics = recorded_topics(robot, ['top'], record_leader=False, extra=extra)
    assert topics[-1].spec.name == '/act/policy/action_chunk'
    assert topics[-1].spec.type_name == 'act_msgs/msg/ActionChunk'
    assert topics[-1].qos == RELIABLE_RECORD_QOS
    for bad in ('act/policy=act_msgs/msg/ActionChunk', '/x', '/x=ActionChunk'):
        with pytest.raises(ValueError, match='extra_topics|not of the form'):
            parse_extra_topics([bad])
    with pytest.raises(ValueError, match='configured twice'):
        recorded_topics(robot, [], record_leader=False, extra=parse_extra_topics(['/clock=rosgraph_msgs/msg/Clock']))


@pytest.mark.slow  # the synthetic robot in another process
@pytest.mark.timeout(120)
@pytest.mark.parametrize('compression', ['png', 'jpeg'])
def test_cameras_stored_compressed_on_the_compressed_topic(recorder, compression):
    """camera_compression: the raw camera goes into the bag as image_transport's
    CompressedImage on <topic>/compressed; png keeps every pixel, jpeg nearly."""
    from rosbags.highlevel import AnyReader

    from act_common.image_encoding import compressed_to_rgb

    r = recorder(cameras='[top]', camera_compression=compression)
    assert r.start().result == StartEpisode.Response.RESULT_OK
    published = publish_streams(1.5)
    time.sleep(0.3)
    stopped = r.stop(success=True)
    bag = Path(stopped.bag_path)
    record = read_episode_record(bag)
    assert record.dropped_count == 0
    assert record.topics['/cameras/top/image_raw/compressed'].stored == published['/cameras/top/image_raw']
    assert record.topics['/cameras/top/image_raw/compressed'].type_name == 'sensor_msgs/msg/CompressedImage'
    with AnyReader([bag]) as reader:
        assert '/cameras/top/image_raw' not in {c.topic for c in reader.connections}
        connections = [c for c in reader.connections if c.topic == '/cameras/top/image_raw/compressed']
        frames = []
        for connection, _, raw in reader.messages(connections=connections):
            msg = reader.deserialize(raw, connection.msgtype)
            assert msg.format == f'rgb8; {compression} compressed bgr8'
            rgb = compressed_to_rgb(msg.format, msg.data)
            assert rgb.shape == (48, 64, 3)
            # synthetic_streams writes the frame number as an int64 into the first red bytes.
            if compression == 'png':
                assert rgb[0, :8, 0].copy().view(np.int64)[0] == int(msg.header.frame_id)
            frames.append(int(msg.header.frame_id))
        assert frames == list(range(published['/cameras/top/image_raw']))


def test_camera_compression_parameter_is_checked(recorder):
    with pytest.raises(Exception, match='camera_compression must be one of'):
        recorder(camera_compression='webp')
