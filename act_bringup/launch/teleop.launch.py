"""ALOHA hardware teleoperation: the Interbotix drivers of 2 leaders and 2 followers, the
4 USB cameras, and our teleop node mirroring leaders onto followers.

    ros2 launch act_bringup teleop.launch.py
    ros2 launch act_bringup teleop.launch.py cameras:=false robot_config:=<my_robot.yaml>

The drivers are included only where their packages are installed (interbotix_xsarm_control
from interbotix_ros_manipulators, usb_cam); without them this starts the teleop node alone
and says which driver is missing, so the file also serves robots whose drivers run
elsewhere. Arm names follow the robot config: /leader_left, /follower_left, ...
"""

import os

from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, LogInfo, OpaqueFunction
from launch.conditions import IfCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from act_bringup.launch_paths import bringup_file, robot_config_file

# (robot name = topic namespace in the robot config, Interbotix model, mode config file)
ARMS = (
    ('leader_left', 'wx250s', 'leader_modes.yaml'),
    ('leader_right', 'wx250s', 'leader_modes.yaml'),
    ('follower_left', 'vx300s', 'follower_modes.yaml'),
    ('follower_right', 'vx300s', 'follower_modes.yaml'),
)
CAMERAS = ('top', 'left_wrist', 'right_wrist', 'front')


def _package_share(name):
    try:
        return get_package_share_directory(name)
    except PackageNotFoundError:
        return None


def _drivers(context, *args, **kwargs):
    actions = []
    xsarm = _package_share('interbotix_xsarm_control')
    if xsarm is None:
        actions.append(LogInfo(msg='interbotix_xsarm_control is not installed: no arm drivers started '
                                   '(install interbotix_ros_manipulators, or start the drivers yourself)'))
    else:
        for robot_name, model, modes in ARMS:
            actions.append(IncludeLaunchDescription(
                PythonLaunchDescriptionSource(os.path.join(xsarm, 'launch', 'xsarm_control.launch.py')),
                launch_arguments={
                    'robot_model': model,
                    'robot_name': robot_name,
                    'mode_configs': bringup_file('config', 'interbotix', modes),
                    'use_rviz': 'false',
                }.items()))
    if LaunchConfiguration('cameras').perform(context) == 'true':
        if _package_share('usb_cam') is None:
            actions.append(LogInfo(msg='usb_cam is not installed: no camera drivers started'))
        else:
            for camera in CAMERAS:
                actions.append(Node(
                    package='usb_cam', executable='usb_cam_node_exe', name=f'camera_{camera}', output='screen',
                    parameters=[{
                        'video_device': LaunchConfiguration(f'{camera}_device'),
                        'image_width': 640, 'image_height': 480, 'framerate': 30.0, 'pixel_format': 'yuyv2rgb',
                        'frame_id': f'{camera}_camera_optical_frame',
                    }],
                    remappings=[('image_raw', f'/cameras/{camera}/image_raw')]))
    return actions


def generate_launch_description():
    arguments = [
        DeclareLaunchArgument(
            'robot_config', default_value=robot_config_file('aloha.yaml'),
            description='Robot config YAML: arms, joint mapping, gripper calibration, cameras'),
        DeclareLaunchArgument(
            'teleop_params', default_value=bringup_file('config', 'teleop.yaml'),
            description='Parameters of the teleop node'),
        DeclareLaunchArgument(
            'cameras', default_value='true', description='Start the USB camera drivers'),
        DeclareLaunchArgument(
            'teleop', default_value='true', description='Start the teleop node (false: drivers only, e.g. for a policy)'),
    ]
    arguments += [
        DeclareLaunchArgument(f'{camera}_device', default_value=f'/dev/CAM_{camera.upper()}',
                              description=f'Video device of the {camera} camera (a udev symlink)')
        for camera in CAMERAS
    ]
    return LaunchDescription(arguments + [
        OpaqueFunction(function=_drivers),
        Node(
            package='act_teleop', executable='teleop_node', name='teleop', output='screen',
            condition=IfCondition(LaunchConfiguration('teleop')),
            parameters=[LaunchConfiguration('teleop_params'), {'robot_config': LaunchConfiguration('robot_config')}]),
    ])
