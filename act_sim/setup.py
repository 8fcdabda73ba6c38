from setuptools import find_packages, setup

package_name = 'act_sim'

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
    description='The bimanual ALOHA in MuJoCo as a ROS 2 robot: physics, cameras, clock, scripted demonstrations.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'sim_node = act_sim.sim_node:main',
            'scripted_leader = act_sim.scripted_leader:main',
        ],
    },
)
