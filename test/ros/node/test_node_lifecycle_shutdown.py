"""A lifecycle shutdown ends the node's process cleanly. A module of its own: its node is gone afterwards."""

from __future__ import annotations

from lifecycle_msgs.msg import Transition

EXIT_TIMEOUT_S = 20.0


def test_lifecycle_shutdown_ends_the_process_cleanly(client, sam3_node):
    assert client.lifecycle_state() == "active"  # autostart

    sam3_node.exit_expected = True
    assert client.change_state(Transition.TRANSITION_ACTIVE_SHUTDOWN) is True
    sam3_node.process.wait(timeout=EXIT_TIMEOUT_S)

    assert sam3_node.process.returncode == 0, sam3_node.describe()
    assert "shut down" in sam3_node.log_text()
