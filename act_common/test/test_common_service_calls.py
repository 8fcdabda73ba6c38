"""service_calls: a probe sent again until answered; the request that matters sent once."""

import threading

import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.task import Future
from std_srvs.srv import Trigger

from act_common.service_calls import call, wait_until_answering


class DroppingClient:
    """A client whose first `dropped` requests get no response, as when Fast DDS drops the
    responses sent before the server has matched the client's reader."""

    def __init__(self, dropped: int, ready: bool = True):
        self.dropped, self.ready = dropped, ready
        self.sent, self.removed = [], []

    def wait_for_service(self, timeout_sec):
        return self.ready

    def call_async(self, request):
        future = Future()
        self.sent.append(request)
        if len(self.sent) > self.dropped:
            future.set_result(f'answer to {request}')
        return future

    def remove_pending_request(self, future):
        self.removed.append(future)


def test_the_probe_is_sent_again_until_one_answer_comes():
    client = DroppingClient(dropped=2)
    assert wait_until_answering(client, 'probe', timeout_s=5.0, retry_s=0.05) == 'answer to probe'
    assert client.sent == ['probe'] * 3 and len(client.removed) == 2


def test_no_answer_and_no_service_are_none_within_the_timeout():
    assert wait_until_answering(DroppingClient(dropped=10**6), 'probe', timeout_s=0.3, retry_s=0.1) is None
    assert wait_until_answering(DroppingClient(dropped=0, ready=False), 'probe', timeout_s=0.3) is None
    client = DroppingClient(dropped=1)
    assert call(client, 'request', timeout_s=0.1) is None and client.sent == ['request']  # sent once, never again


def test_a_real_service_answers_through_call():
    context = Context()
    rclpy.init(context=context)
    try:
        node = rclpy.create_node('service_calls_test', context=context)
        handled = []
        node.create_service(Trigger, '/service_calls_test/trigger',
                            lambda request, response: (handled.append(1), Trigger.Response(success=True))[1])
        client = node.create_client(Trigger, '/service_calls_test/trigger')
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        spinning = threading.Thread(target=executor.spin, daemon=True)
        spinning.start()
        assert wait_until_answering(client, Trigger.Request(), timeout_s=30.0).success
        assert call(client, Trigger.Request(), timeout_s=30.0).success
        assert len(handled) == 2
        executor.shutdown()
        spinning.join(timeout=5)
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
