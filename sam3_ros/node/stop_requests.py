"""Ctrl-C and SIGTERM as a request to stop at the next safe point, not an exception raised anywhere."""

from __future__ import annotations

import signal


class StopRequests:
    """While active (a context manager), SIGINT and SIGTERM set `requested` instead of raising.

    A KeyboardInterrupt raised by the signal lands wherever the main thread happens to be: inside
    rclpy's executor (between taking a message and running its callback, while it creates a Task),
    half-way through a tracker update. The loop that owns the work looks at `requested` between two
    of its steps and ends there. A second Ctrl-C raises KeyboardInterrupt at once, for a step that
    hangs.
    """

    _SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __enter__(self) -> StopRequests:
        self.requested = False
        self._previous = {sig: signal.signal(sig, self._request) for sig in self._SIGNALS}
        return self

    def _request(self, signum, frame) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
