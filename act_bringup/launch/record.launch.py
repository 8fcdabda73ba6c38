"""The episode recorder with the topic set of a robot config: one rosbag2 per episode,
started and stopped through its services (or `act record`, which also prompts).

    ros2 launch act_bringup record.launch.py robot_config:=<robots/aloha.yaml> output_dir:=~/episodes
    ros2 service call /recorder/start_episode act_msgs/srv/StartEpisode "{task_name: transfer_cube, episode_index: -1, seed: -1}"
    ros2 service call /recorder/stop_episode act_msgs/srv/StopEpisode "{success: true}"

output_dir and storage_id override recorder_params only when given
(act_bringup.launch_overrides): left unset, the file's values hold.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import EnvironmentVariable, LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from act_bringup.launch_overrides import given_overrides
from act_bringup.launch_paths import bringup_file, robot_config_file

# Launch argument -> (recorder parameter, type): set only when the argument is given.
OVERRIDES = {'output_dir': ('output_dir', 'str'), 'storage_id': ('storage_id', 'str')}


def _recorder(context, *args, **kwargs):
    """The recorder with the YAML, then the given overrides."""
    return [Node(
        package='act_teleop', executable='recorder_node', name='recorder', output='screen',
        parameters=[LaunchConfiguration('recorder_params'), {
            'robot_config': LaunchConfiguration('robot_config'),
            'use_sim_time': ParameterValue(LaunchConfiguration('use_sim_time'), value_type=bool),
        }, given_overrides(context.launch_configurations, OVERRIDES)])]


def generate_launch_description():

    return LaunchDescription([
        DeclareLaunchArgument(
            'robot_config', default_value=robot_config_file('aloha.yaml'),
            description='Robot config YAML: the recorded topics come from it'),
        DeclareLaunchArgument(
            'recorder_params', default_value=bringup_file('config', 'recorder.yaml'),
            description='Parameters of the recorder node'),
        DeclareLaunchArgument(
            'output_dir', default_value='',
            description='Folder receiving one rosbag2 per episode; unset = recorder_params\' value'),
        DeclareLaunchArgument(
            'storage_id', default_value='', description='rosbag2 storage: mcap or sqlite3; unset = recorder_params\' value'),
        DeclareLaunchArgument(
            'use_sim_time', default_value='false', description='Stamp and time episodes with /clock (sim)'),
        DeclareLaunchArgument(
            'dds_profile',
            default_value=EnvironmentVariable('FASTDDS_DEFAULT_PROFILES_FILE',
                                              default_value=bringup_file('config', 'fastdds_large_data.xml')),
            description='Fast DDS profile; the default carries full-size images between processes without loss'),
        SetEnvironmentVariable('FASTDDS_DEFAULT_PROFILES_FILE', LaunchConfiguration('dds_profile')),
        OpaqueFunction(function=_recorder),
    ])
