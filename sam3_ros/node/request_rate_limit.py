"""A token bucket for the prompt service: a script calling in a loop cannot keep the engine's lock busy."""

from __future__ import annotations


class RequestRateLimiter:
    """Allows `rate` requests per second on average, and bursts of up to `rate` (one second's worth).

    A rate of 0 turns the limit off. Takes the current time (monotonic seconds) instead of reading a
    clock, so a test can drive it step by step. Not thread-safe: the node calls it from the prompt
    services' mutually exclusive callback group.
    """

    def __init__(self, rate: float, now: float):
        self.rate = float(rate)
        self._capacity = max(1.0, self.rate)
        self._tokens = self._capacity
        self._last = now

    def allow(self, now: float) -> bool:
        if self.rate <= 0:
            return True
        self._tokens = min(self._capacity, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False
