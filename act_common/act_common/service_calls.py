"""Calling a service of another process, and knowing whether it answered.

`wait_until_answering` exists because of a race in Fast DDS (the RMW these wheels ship):
`Client.wait_for_service` returns once the client's side has matched the server, but the
server sends a response only after its own side has matched the client's response reader,
and it waits 100 ms for that (rmw_fastrtps, rmw_response.cpp; ros2/rmw_fastrtps#467). Later
the server logs "failed to send response (timeout): client will not receive response" and
the client waits forever. On a loaded 2-core machine this met the first request sent to a
process that had just started. Once one request has been answered the match stands; so a
caller first sends a probe, a request the server answers without doing anything, until
one answer comes, and then sends the request that matters once.

The client's node must be spinning in another thread (an executor in the background, as
NodeSet and the test harnesses run them): these functions only wait.
"""

from __future__ import annotations

import threading
import time


def call(client, request, timeout_s: float):
    """Sends `request` on `client`; the response, or None when none came within timeout_s (s)."""
    future = client.call_async(request)
    answered = threading.Event()
    future.add_done_callback(lambda _: answered.set())
    if not answered.wait(timeout_s):
        client.remove_pending_request(future)
        return None
    return future.result()


def wait_until_answering(client, probe, timeout_s: float, retry_s: float = 5.0):
    """Waits for the service, then sends `probe` every retry_s (s) until one is answered.

    probe: a request the server answers without side effects (one it refuses, such as an
        unknown task name), since it may be handled more than once.
    Returns the probe's response, or None when the service did not answer within timeout_s.
    """
    deadline = time.monotonic() + timeout_s
    if not client.wait_for_service(timeout_sec=timeout_s):
        return None
    while (remaining := deadline - time.monotonic()) > 0:
        response = call(client, probe, min(retry_s, remaining))
        if response is not None:
            return response
    return None
