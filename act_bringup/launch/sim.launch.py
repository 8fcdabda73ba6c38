"""The simulated ALOHA: MuJoCo physics, cameras and /clock, optionally with the scripted
leader and the teleop node, so the simulated follower is driven as hardware would be.

    ros2 launch act_bringup sim.launch.py task:=insertion
    ros2 launch act_bringup sim.launch.py scripted_leader:=true teleop:=true episodes:=5

task, real_time_factor and episodes override sim_params only when given
(act_bringup.launch_overrides): left unset, the file's values hold.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from act_bringup.launch_overrides import given_overrides
from act_bringup.launch_paths import bringup_file, robot_config_file

# Launch argument -> (parameter, type), per node: set only when the argument is given.
OVERRIDES = {
    'sim_node': {'task': ('task', 'str'), 'real_time_factor': ('real_time_factor', 'float')},
    'scripted_leader': {'task': ('task', 'str'), 'episodes': ('episodes', 'int')},
}


def _sim_nodes(context, *args, **kwargs):
    """sim_node and the scripted leader: the YAML, then the given overrides."""
    robot_config = LaunchConfiguration('robot_config')
    sim_params = LaunchConfiguration('sim_params')
    arguments = context.launch_configurations
    return [
        Node(
            package='act_sim', executable='sim_node', name='sim_node', output='screen',
            parameters=[sim_params, {'robot_config': robot_config},
                        given_overrides(arguments, OVERRIDES['sim_node'])]),
        Node(
            package='act_sim', executable='scripted_leader', name='scripted_leader', output='screen',
            condition=IfCondition(LaunchConfiguration('scripted_leader')),
            parameters=[sim_params, {'robot_config': robot_config, 'use_sim_time': True},
                        given_overrides(arguments, OVERRIDES['scripted_leader'])]),
    ]


def generate_launch_description():
    robot_config = LaunchConfiguration('robot_config')

    return LaunchDescription([
        DeclareLaunchArgument(
            'robot_config', default_value=robot_config_file('aloha_sim.yaml'),
            description='Robot config YAML: arms, joints, cameras and the topics they use'),
        DeclareLaunchArgument(
            'sim_params', default_value=bringup_file('config', 'sim.yaml'),
            description='Parameters of sim_node and the scripted leader'),
        DeclareLaunchArgument(
            'teleop_params', default_value=bringup_file('config', 'teleop.yaml'),
            description='Parameters of the teleop node'),
        DeclareLaunchArgument(
            'task', default_value='', description='Simulated task: transfer_cube or insertion; unset = sim_params\' value'),
        DeclareLaunchArgument(
            'real_time_factor', default_value='',
            description='Simulation speed against the wall clock; 0 = lockstep, as fast as the commanders answer; '
                        'unset = sim_params\' value'),
        DeclareLaunchArgument(
            'scripted_leader', default_value='false',
            description='Play scripted demonstrations as leader joint states (needs teleop:=true to move the follower)'),
        DeclareLaunchArgument(
            'episodes', default_value='', description='Scripted episodes the scripted leader plays; unset = its default (1)'),
        DeclareLaunchArgument(
            'teleop', default_value='false', description='Mirror the leader arms onto the followers'),
        OpaqueFunction(function=_sim_nodes),
        Node(
            package='act_teleop', executable='teleop_node', name='teleop', output='screen',
            condition=IfCondition(LaunchConfiguration('teleop')),
            parameters=[LaunchConfiguration('teleop_params'), {'robot_config': robot_config, 'use_sim_time': True}]),
    ])
