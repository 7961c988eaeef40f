"""Approximate-time matching of several message streams, without ROS (no rclpy, no message_filters).

message_filters is the ROS convention for this, but it is not on PyPI. Where it is installed (a ROS
distro), sam3_ros.node.synchronised_input uses its ApproximateTimeSynchronizer; elsewhere it uses this
class, which follows the same policy as message_filters' Python ApproximateTimeSynchronizer, so a
stream gives the same sets either way:

* one queue per input, keyed by header stamp; a message with a stamp already queued replaces it;
  when a queue holds more than `queue_size` messages the oldest stamp is dropped;
* when a message arrives, each other queue offers its stamps that are at most `slop` from the new
  message's, nearest first; the first combination (nearest first, in input order) whose stamps
  spread over less than `slop` is emitted through the callback, newcomer included, and its
  messages leave their queues. Other queued messages stay until a newer set uses its own or
  they fall out of a full queue.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any

NANOSECONDS = 1_000_000_000


def stamp_to_ns(stamp) -> int:
    """A builtin_interfaces/Time (anything with `sec` and `nanosec`) as integer nanoseconds."""
    return int(stamp.sec) * NANOSECONDS + int(stamp.nanosec)


class ApproximateTimeSync:
    """Calls `callback(*messages)`, one message per input in input order, for each matched set.

    Thread-safe: `add` may be called from several executor threads.
    """

    def __init__(self, inputs: int, queue_size: int, slop_s: float, callback: Callable[..., Any]):
        if inputs < 2:
            raise ValueError(f"approximate time sync needs at least 2 inputs, got {inputs}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be at least 1, got {queue_size}")
        if slop_s <= 0:
            raise ValueError(f"slop must be positive, got {slop_s} s")
        self.queue_size = queue_size
        self.slop_ns = round(slop_s * NANOSECONDS)
        self._callback = callback
        self._queues: list[dict[int, Any]] = [{} for _ in range(inputs)]
        self._lock = threading.Lock()

    def add(self, index: int, stamp_ns: int, msg: Any) -> None:
        """Queue `msg` (stamped `stamp_ns`) of input `index`; emit a set if it completes one."""
        with self._lock:
            matched = self._add_locked(index, stamp_ns, msg)
        # Outside the lock: the callback may take long or add messages itself.
        if matched is not None:
            self._callback(*matched)

    def queued(self, index: int) -> list[int]:
        """The stamps waiting in input `index`'s queue, oldest first (for tests and diagnostics)."""
        with self._lock:
            return sorted(self._queues[index])

    def _add_locked(self, index: int, stamp_ns: int, msg: Any) -> tuple | None:
        own = self._queues[index]
        own[stamp_ns] = msg
        while len(own) > self.queue_size:
            del own[min(own)]
        candidates = []
        for other, queue in enumerate(self._queues):
            if other == index:
                continue
            near = [s for s in queue if abs(s - stamp_ns) <= self.slop_ns]
            if not near:
                return None
            candidates.append(sorted(near, key=lambda s: abs(s - stamp_ns)))  # stable: ties keep arrival order
        for combination in itertools.product(*candidates):
            stamps = list(combination)
            stamps.insert(index, stamp_ns)
            # The newcomer itself may have been the oldest of a full queue and dropped at once.
            if max(stamps) - min(stamps) < self.slop_ns and all(s in q for q, s in zip(self._queues, stamps)):
                return tuple(q.pop(s) for q, s in zip(self._queues, stamps))
        return None
