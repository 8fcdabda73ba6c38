"""The simulated ALOHA: MuJoCo physics, cameras and /clock, optionally with the scripted
leader and the teleop node, so the simulated follower is driven as hardware would be.

    ros2 launch act_bringup sim.launch.py task:=insertion
    ros2 launch act_bringup sim.launch.py scripted_leader:=true teleop:=true episodes:=5
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue


def generate_launch_description():
    share = get_package_share_directory('act_bringup')
    config = os.path.join(share, 'config')
    robot_config = LaunchConfiguration('robot_config')
    sim_params = LaunchConfiguration('sim_params')

    return LaunchDescription([
        DeclareLaunchArgument(
            'robot_config', default_value=os.path.join(config, 'robots', 'aloha_sim.yaml'),
            description='Robot config YAML: arms, joints, cameras and the topics they use'),
        DeclareLaunchArgument(
            'sim_params', default_value=os.path.join(config, 'sim.yaml'),
            description='Parameters of sim_node and the scripted leader'),
        DeclareLaunchArgument(
            'teleop_params', default_value=os.path.join(config, 'teleop.yaml'),
            description='Parameters of the teleop node'),
        DeclareLaunchArgument(
            'task', default_value='transfer_cube', description='Simulated task: transfer_cube or insertion'),
        DeclareLaunchArgument(
            'real_time_factor', default_value='1.0',
            description='Simulation speed against the wall clock; 0 = lockstep, as fast as the commanders answer'),
        DeclareLaunchArgument(
            'scripted_leader', default_value='false',
            description='Play scripted demonstrations as leader joint states (needs teleop:=true to move the follower)'),
        DeclareLaunchArgument(
            'episodes', default_value='1', description='Scripted episodes the scripted leader plays'),
        DeclareLaunchArgument(
            'teleop', default_value='false', description='Mirror the leader arms onto the followers'),
        Node(
            package='act_sim', executable='sim_node', name='sim_node', output='screen',
            parameters=[sim_params, {
                'robot_config': robot_config,
                'task': LaunchConfiguration('task'),
                'real_time_factor': ParameterValue(LaunchConfiguration('real_time_factor'), value_type=float),
            }]),
        Node(
            package='act_sim', executable='scripted_leader', name='scripted_leader', output='screen',
            condition=IfCondition(LaunchConfiguration('scripted_leader')),
            parameters=[sim_params, {
                'robot_config': robot_config,
                'use_sim_time': True,
                'task': LaunchConfiguration('task'),
                'episodes': ParameterValue(LaunchConfiguration('episodes'), value_type=int),
            }]),
        Node(
            package='act_teleop', executable='teleop_node', name='teleop', output='screen',
            condition=IfCondition(LaunchConfiguration('teleop')),
            parameters=[LaunchConfiguration('teleop_params'), {'robot_config': robot_config, 'use_sim_time': True}]),
    ])
