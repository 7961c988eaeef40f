"""Ctrl-C while the node is busy: it stops its inference thread before rclpy goes, and says nothing alarming.

rclpy's own SIGINT handler shut the context down at once, while the inference thread was still
publishing a frame's results: "Exception in thread sam3_inference ... RCLError: Failed to publish:
publisher's context is invalid" in 12 of 13 stops.
"""

import contextlib
import signal
import subprocess

ATTEMPTS = 2
STREAM_RESULTS = 3  # results of the stream before the signal: the node is busy with it
STREAM_TIMEOUT_S = 120.0
EXIT_TIMEOUT_S = 30.0


def stream_until_busy(client, footage) -> None:
    """Send frames back to back (one per spin, ~20 a second, far more than the node processes) until
    the node has published STREAM_RESULTS results for them: it is still busy with the last ones."""
    first = len(client.results)
    sent = []

    def busy() -> bool:
        if len(client.results) - first >= STREAM_RESULTS:
            return True
        sent.append(client.publish_frame(footage[len(sent) % len(footage)]).header.stamp)
        return False

    client.spin_until(busy, STREAM_TIMEOUT_S, f"{STREAM_RESULTS} results of a stream of frames")
    streamed = {(s.sec, s.nanosec) for s in sent}
    assert all((r.header.stamp.sec, r.header.stamp.nanosec) in streamed for r in client.results[first:])


def test_sigint_while_processing_exits_cleanly_without_a_traceback(node_launcher, footage):
    node = node_launcher.launch({})
    for attempt in range(ATTEMPTS):
        client = node_launcher.connect(node)
        client.process(footage[0])  # warmed up: frames from now on go straight to inference
        stream_until_busy(client, footage)
        node.exit_expected = True
        node.process.send_signal(signal.SIGINT)  # Ctrl-C
        # The next attempt's node spends its first seconds importing, off the ROS graph: it starts
        # while this one stops, and gets a client once this one is gone.
        next_node = node_launcher.launch({}) if attempt + 1 < ATTEMPTS else None
        with contextlib.suppress(subprocess.TimeoutExpired):  # then stop() kills it, and says None
            node.process.wait(timeout=EXIT_TIMEOUT_S)
        code = node.stop()  # it has exited: its exit code

        log = node.log_text()
        assert code == 0, f"exit code {code} after SIGINT (attempt {attempt}): {node.describe()}"
        assert "Traceback" not in log and "Exception in thread" not in log, f"attempt {attempt}: {node.describe()}"
        node = next_node
