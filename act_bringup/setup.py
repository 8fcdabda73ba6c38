from glob import glob

from setuptools import find_packages, setup

package_name = 'act_bringup'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        ('share/' + package_name + '/launch', glob('launch/*.launch.py')),
        ('share/' + package_name + '/config', glob('config/*.yaml') + glob('config/*.xml')),
        ('share/' + package_name + '/config/interbotix', glob('config/interbotix/*.yaml')),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='ACT ROS maintainers',
    maintainer_email='act-ros@example.org',
    description='Launch files and configs of the ACT suite.',
    license='Apache-2.0',
    entry_points={'console_scripts': []},
)
