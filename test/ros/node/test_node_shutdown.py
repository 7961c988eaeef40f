"""Ctrl-C while the node is busy: it stops its inference thread before rclpy goes, and says nothing alarming.

rclpy's own SIGINT handler shut the context down at once, while the inference thread was still
publishing a frame's results: "Exception in thread sam3_inference ... RCLError: Failed to publish:
publisher's context is invalid" in 12 of 13 stops.
"""

import time

STREAM_S = 3.0  # frames sent back to back: the inference thread is busy when the signal arrives


def test_sigint_while_processing_exits_cleanly_without_a_traceback(node_launcher, footage):
    for attempt in range(2):
        node, client = node_launcher.start({})
        client.process(footage[0])  # warmed up: frames from now on go straight to inference
        deadline = time.monotonic() + STREAM_S
        index = 0
        while time.monotonic() < deadline:
            client.publish_frame(footage[index % len(footage)])
            client.spin_for(0.02)
            index += 1
        node.exit_expected = True
        code = node.stop()

        log = node.log_text()
        assert code == 0, f"exit code {code} after SIGINT (attempt {attempt}): {node.describe()}"
        assert "Traceback" not in log and "Exception in thread" not in log, f"attempt {attempt}: {node.describe()}"
