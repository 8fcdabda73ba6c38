"""Robot configs: the shipped YAMLs load, and malformed ones fail naming file and field."""

from pathlib import Path

import pytest
import yaml

from act_common.robot_config import RobotConfigError, load_robot_config, parse_robot_config

ROBOTS = Path(__file__).resolve().parents[2] / 'act_common' / 'config' / 'robots'


@pytest.mark.parametrize('name', ['aloha', 'aloha_sim', 'single_arm'])
def test_shipped_robot_configs_load(name):
    robot = load_robot_config(ROBOTS / f'{name}.yaml')
    assert robot.name == name
    assert robot.vector_size == sum(arm.dof for arm in robot.arms)
    assert len(robot.vector_names) == robot.vector_size


def test_aloha_sim_vector_layout():
    robot = load_robot_config(ROBOTS / 'aloha_sim.yaml')
    assert robot.vector_size == 14
    assert robot.vector_names[:7] == ('left_waist', 'left_shoulder', 'left_elbow', 'left_forearm_roll',
                                      'left_wrist_angle', 'left_wrist_rotate', 'left_gripper')
    assert robot.arm_slices() == {'left': slice(0, 7), 'right': slice(7, 14)}
    assert robot.control_period_s == pytest.approx(0.02)
    assert robot.camera('top').topic == '/cameras/top/image_raw'
    assert robot.with_cameras(['left_wrist', 'top']).camera_names == ('left_wrist', 'top')


def _sim_dict():
    return yaml.safe_load((ROBOTS / 'aloha_sim.yaml').read_text())['robot']


@pytest.mark.parametrize('mutate, field', [
    (lambda d: d['arms'][0]['follower'].pop('joint_states_topic'), 'robot.arms[0].follower.joint_states_topic'),
    (lambda d: d['arms'][1]['follower'].update(lower_limits=[0.0] * 3), 'robot.arms[1].follower.lower_limits'),
    (lambda d: d['arms'][0]['follower']['command'].update(interface='can_bus'), 'robot.arms[0].follower.command.interface'),
    (lambda d: d['arms'][0]['follower']['gripper'].update(open=0.01844), 'robot.arms[0].follower.gripper'),
    (lambda d: d['cameras'][0].update(topic='cameras/top'), 'robot.cameras[0].topic'),
    (lambda d: d['cameras'][0].update(encoding='yuv422'), 'robot.cameras[0].encoding'),
    (lambda d: d.update(control_rate_hz=0), 'robot.control_rate_hz'),
    (lambda d: d['arms'][1].update(name='left'), 'robot.arms[].name'),
])
def test_malformed_config_names_the_field(mutate, field):
    data = _sim_dict()
    mutate(data)
    with pytest.raises(RobotConfigError) as error:
        parse_robot_config(data, source='bad.yaml')
    assert str(error.value).startswith('bad.yaml: ')
    assert field in str(error.value)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(RobotConfigError, match='cannot read'):
        load_robot_config(tmp_path / 'absent.yaml')
    bad = tmp_path / 'bad.yaml'
    bad.write_text('robot: [unclosed')
    with pytest.raises(RobotConfigError, match='not valid YAML'):
        load_robot_config(bad)


def test_gripper_range_round_trip():
    robot = load_robot_config(ROBOTS / 'aloha.yaml')
    arm = robot.arms[0]
    assert arm.follower.gripper.normalize(0.05800) == pytest.approx(1.0)
    assert arm.follower.gripper.normalize(0.01844) == pytest.approx(0.0)
    assert arm.leader.gripper.denormalize(arm.leader.gripper.normalize(-0.1)) == pytest.approx(-0.1)
    assert arm.follower.command.gripper_command(0.0) == pytest.approx(-0.6213)
    assert arm.follower.command.gripper_command(1.0) == pytest.approx(1.4910)
