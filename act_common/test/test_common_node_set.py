"""NodeSet gives in-process nodes the parameters launch_ros would give them."""

from rclpy.node import Node

from act_common.node_set import NodeSet, NodeSpec, ros_arguments


class EchoNode(Node):
    def __init__(self, **node_kwargs):
        super().__init__('echo', **node_kwargs)
        self.declare_parameter('rate_hz', 1.0)
        self.declare_parameter('label', 'none')
        self.declare_parameter('cameras', ['x'])
        self.declare_parameter('enabled', False)


def test_params_file_then_overrides(tmp_path):
    params = tmp_path / 'echo.yaml'
    params.write_text('echo:\n  ros__parameters:\n    rate_hz: 50.0\n    label: from_file\n    cameras: [top, angle]\n')
    spec = NodeSpec(EchoNode, params_file=params, overrides={'label': "it's set", 'enabled': True})
    with NodeSet([spec]) as node_set:
        node = node_set.node(EchoNode)
        assert node.get_parameter('rate_hz').value == 50.0
        assert node.get_parameter('cameras').value == ['top', 'angle']
        assert node.get_parameter('label').value == "it's set"
        assert node.get_parameter('enabled').value is True


def test_renamed_node_reads_its_own_block(tmp_path):
    params = tmp_path / 'p.yaml'
    params.write_text('echo:\n  ros__parameters:\n    label: wrong\nsecond:\n  ros__parameters:\n    label: right\n')
    with NodeSet([NodeSpec(EchoNode, params_file=params, name='second')]) as node_set:
        node = node_set.node(EchoNode)
        assert node.get_name() == 'second'
        assert node.get_parameter('label').value == 'right'


def test_ros_arguments_literal_forms():
    args = ros_arguments(NodeSpec(EchoNode, overrides={'a': [1.0, 2.0], 'b': 'x', 'c': False, 'd': 3}))
    assert args == ['--ros-args', '-p', 'a:=[1.0, 2.0]', '-p', "b:='x'", '-p', 'c:=false', '-p', 'd:=3']
