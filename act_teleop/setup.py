from setuptools import find_packages, setup

package_name = 'act_teleop'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='ACT ROS maintainers',
    maintainer_email='act-ros@example.org',
    description='Leader-follower teleoperation and episode recording into rosbag2.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'teleop_node = act_teleop.teleop_node:main',
            'recorder_node = act_teleop.recorder_node:main',
        ],
    },
)
