from setuptools import find_packages, setup

package_name = 'act_tools'

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
    description='The act command line of the ACT suite: evaluation, demo, scripted recording.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'act = act_tools.cli.main:main',
        ],
    },
)
