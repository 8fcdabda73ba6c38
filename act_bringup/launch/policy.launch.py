"""The ACT policy node with a checkpoint, on the simulated ALOHA or on hardware.

    ros2 launch act_bringup policy.launch.py checkpoint:=runs/demo/train/best
    ros2 launch act_bringup policy.launch.py checkpoint:=... sim:=false robot_config:=<robots/aloha.yaml>

policy_node is a lifecycle node: this file configures it (loads the checkpoint and checks it
against the robot) and, once configured, activates it (commands start), unless
autostart:=false leaves it for `ros2 lifecycle set /policy_node configure|activate`.
With sim:=true (default) it also starts the simulated robot (sim.launch.py).

device and precision override policy.yaml only when given (act_bringup.launch_overrides):
left unset, the file's values hold.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, EmitEvent, IncludeLaunchDescription, OpaqueFunction, RegisterEventHandler
from launch.conditions import IfCondition
from launch.events import matches_action
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from launch_ros.parameter_descriptions import ParameterValue
from lifecycle_msgs.msg import Transition

from act_bringup.launch_overrides import given_overrides
from act_bringup.launch_paths import bringup_file, robot_config_file

# Launch argument -> (policy_node parameter, type): set only when the argument is given.
OVERRIDES = {'device': ('device', 'str'), 'precision': ('precision', 'str'),
             'ensemble_weighting': ('ensemble_weighting', 'str')}


def _policy(context, *args, **kwargs):
    """The policy node with the YAML, then the given overrides; configure/activate events."""
    autostart = IfCondition(LaunchConfiguration('autostart'))
    policy = LifecycleNode(
        package='act_policy_node', executable='policy_node', name='policy_node', namespace='', output='screen',
        parameters=[LaunchConfiguration('policy_params'), {
            'robot_config': LaunchConfiguration('robot_config'),
            'checkpoint': LaunchConfiguration('checkpoint'),
            'use_sim_time': ParameterValue(LaunchConfiguration('sim'), value_type=bool),
        }, given_overrides(context.launch_configurations, OVERRIDES)])
    configure = EmitEvent(
        event=ChangeState(lifecycle_node_matcher=matches_action(policy), transition_id=Transition.TRANSITION_CONFIGURE),
        condition=autostart)
    activate_when_configured = RegisterEventHandler(
        OnStateTransition(
            target_lifecycle_node=policy, goal_state='inactive',
            entities=[EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(policy),
                                                  transition_id=Transition.TRANSITION_ACTIVATE))]),
        condition=autostart)
    return [activate_when_configured, policy, configure]


def generate_launch_description():
    robot_config = LaunchConfiguration('robot_config')

    return LaunchDescription([
        DeclareLaunchArgument('checkpoint', description='Checkpoint folder written by act train (e.g. runs/x/best)'),
        DeclareLaunchArgument(
            'robot_config', default_value=robot_config_file('aloha_sim.yaml'),
            description='Robot config YAML; the checkpoint must match its cameras and joints'),
        DeclareLaunchArgument(
            'policy_params', default_value=bringup_file('config', 'policy.yaml'),
            description='Parameters of the policy node (ensembling, timeouts, safety)'),
        DeclareLaunchArgument('device', default_value='',
                              description='Inference device: cpu, cuda or cuda:N; unset = policy_params\' value'),
        DeclareLaunchArgument('precision', default_value='',
                              description='auto (bf16 where the device computes it natively, else fp32), fp32 or bf16; '
                                          'unset = policy_params\' value'),
        DeclareLaunchArgument('ensemble_weighting', default_value='',
                              description='oldest_first (the paper\'s temporal ensembling), newest_first or chunked '
                                          '(what act demo evaluates the CPU recipe with); unset = policy_params\' value'),
        DeclareLaunchArgument('sim', default_value='true', description='Also start the simulated robot, and use its clock'),
        DeclareLaunchArgument('task', default_value='',
                              description='Simulated task (with sim:=true); unset = sim.yaml\'s value'),
        DeclareLaunchArgument(
            'autostart', default_value='true', description='Configure and activate the policy node at launch'),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(bringup_file('launch', 'sim.launch.py')),
            launch_arguments={'robot_config': robot_config, 'task': LaunchConfiguration('task')}.items(),
            condition=IfCondition(LaunchConfiguration('sim'))),
        OpaqueFunction(function=_policy),
    ])
