from glob import glob

from setuptools import find_packages, setup

package_name = 'act_common'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        # Robot configs: every package's nodes and tests read them (act_common.config_paths).
        ('share/' + package_name + '/config/robots', glob('config/robots/*.yaml')),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='ACT ROS maintainers',
    maintainer_email='act-ros@example.org',
    description='Shared robot interface of the ACT suite.',
    license='Apache-2.0',
    entry_points={'console_scripts': []},
)
