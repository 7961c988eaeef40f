"""sam3_ros.node.approximate_sync: message_filters' approximate-time policy without ROS (pure unit tests)."""

from __future__ import annotations

import pytest
from builtin_interfaces.msg import Time

from sam3_ros.node.approximate_sync import ApproximateTimeSync, stamp_to_ns

MS = 1_000_000  # nanoseconds
SLOP_S = 0.010  # 10 ms


class Recorder:
    """A synchroniser of three inputs (colour, depth, info) whose sets are recorded as stamp tuples."""

    def __init__(self, queue_size: int = 5, slop_s: float = SLOP_S):
        self.sets = []
        self.sync = ApproximateTimeSync(3, queue_size, slop_s, lambda *msgs: self.sets.append(msgs))

    def add(self, index: int, stamp_ms: float) -> None:
        stamp = round(stamp_ms * MS)
        self.sync.add(index, stamp, (index, stamp_ms))  # the "message" says where it came from

    def stamps(self) -> list[tuple[float, ...]]:
        return [tuple(msg[1] for msg in matched) for matched in self.sets]


def test_stamp_to_ns():
    assert stamp_to_ns(Time(sec=12, nanosec=345)) == 12_000_000_345


def test_identical_stamps_form_a_set_in_input_order():
    r = Recorder()
    r.add(2, 100)
    r.add(0, 100)
    assert r.sets == []
    r.add(1, 100)
    assert r.sets == [((0, 100), (1, 100), (2, 100))]
    assert [r.sync.queued(i) for i in range(3)] == [[], [], []], "matched messages leave their queues"


def test_stamps_within_slop_match_and_beyond_do_not():
    r = Recorder()
    r.add(0, 100)
    r.add(1, 104)
    r.add(2, 111)  # 11 ms from the colour frame: more than the slop
    assert r.sets == []
    r.add(2, 96)  # spread 96..104 = 8 ms < 10 ms
    assert r.stamps() == [(100, 104, 96)]


def test_a_spread_of_exactly_the_slop_does_not_match():
    """As in message_filters: candidates may be slop away from the newcomer, the set must spread less."""
    r = Recorder()
    r.add(0, 100)
    r.add(1, 110)
    r.add(2, 100)
    assert r.sets == []
    r.add(1, 109.999)
    assert r.stamps() == [(100, 109.999, 100)]


def test_nearest_partner_is_chosen():
    r = Recorder()
    r.add(1, 92)
    r.add(1, 103)
    r.add(2, 101)
    r.add(0, 100)
    assert r.stamps() == [(100, 103, 101)]
    assert r.sync.queued(1) == [92 * MS], "the unused, older depth message stays queued"


def test_candidates_are_tried_nearest_first_until_the_set_spreads_less_than_the_slop():
    r = Recorder()
    r.add(1, 95)  # nearest to the newcomer, but 14 ms from the info message
    r.add(1, 106)
    r.add(2, 109)
    r.add(0, 100)
    assert r.stamps() == [(100, 106, 109)]


def test_full_queue_drops_its_oldest_message():
    r = Recorder(queue_size=2)
    for stamp in (100, 200, 300):
        r.add(1, stamp)
    assert r.sync.queued(1) == [200 * MS, 300 * MS]
    r.add(2, 100)
    r.add(0, 100)
    assert r.sets == [], "the depth message stamped 100 was dropped from the full queue"


def test_newcomer_older_than_a_full_queue_is_dropped_at_once():
    r = Recorder(queue_size=2)
    r.add(1, 100)
    r.add(2, 100)
    r.add(0, 300)
    r.add(0, 400)
    r.add(0, 100)  # the oldest of a full colour queue: dropped, so it cannot complete a set
    assert r.sets == []
    assert r.sync.queued(0) == [300 * MS, 400 * MS]


def test_a_message_with_a_queued_stamp_replaces_it():
    sets = []
    sync = ApproximateTimeSync(2, 5, SLOP_S, lambda *msgs: sets.append(msgs))
    sync.add(0, 100 * MS, "first")
    sync.add(0, 100 * MS, "second")
    sync.add(1, 100 * MS, "depth")
    assert sets == [("second", "depth")]


def test_every_set_is_emitted_once_in_a_stream():
    """A 30 Hz camera with depth 2 ms and camera_info 1 ms late: one set per frame, none twice."""
    r = Recorder()
    for frame in range(20):
        t = 1000 + frame * 33.3
        r.add(2, t + 1)
        r.add(0, t)
        r.add(1, t + 2)
    assert r.stamps() == [(1000 + f * 33.3, 1000 + f * 33.3 + 2, 1000 + f * 33.3 + 1) for f in range(20)]


@pytest.mark.parametrize(
    "inputs, queue_size, slop_s, phrase",
    [(1, 5, SLOP_S, "at least 2 inputs"), (2, 0, SLOP_S, "queue_size"), (2, 5, 0.0, "slop")],
)
def test_invalid_settings_are_refused(inputs, queue_size, slop_s, phrase):
    with pytest.raises(ValueError, match=phrase):
        ApproximateTimeSync(inputs, queue_size, slop_s, print)
