"""TrackIdBook: when the tracker's objects get, keep and lose the ids the robot sees."""

from sam3_ros.engine.track_ids import TrackIdBook

OBJ = 7  # a model object id; public ids are counted separately from 1


def run(book: TrackIdBook, visibility: list[bool], obj_id: int = OBJ, start: int = 0):
    """One object's visibility frame by frame; returns the TrackUpdate of every frame."""
    return [book.update(start + index, {obj_id: visible}) for index, visible in enumerate(visibility)]


def test_a_track_is_reported_once_seen_on_confirm_frames_frames():
    updates = run(TrackIdBook(confirm_frames=3), [True, True, True, True])

    assert [u.reported for u in updates] == [{}, {}, {OBJ: 1}, {OBJ: 1}]


def test_an_unconfirmed_track_that_is_lost_is_retired_at_once():
    updates = run(TrackIdBook(confirm_frames=3, max_lost_frames=30), [True, False])

    assert updates[1].retired == [OBJ]
    assert updates[1].reported == {}


def test_a_confirmed_track_survives_max_lost_frames_and_keeps_its_id():
    updates = run(TrackIdBook(confirm_frames=1, max_lost_frames=2), [True, False, False, True])

    assert [u.reported for u in updates] == [{OBJ: 1}, {}, {}, {OBJ: 1}]
    assert all(u.retired == [] for u in updates)


def test_a_confirmed_track_lost_longer_than_max_lost_frames_is_retired():
    updates = run(TrackIdBook(confirm_frames=1, max_lost_frames=2), [True, False, False, False])

    assert [u.retired for u in updates] == [[], [], [], [OBJ]]


def test_a_retired_object_seen_again_is_a_new_track_with_a_new_id():
    book = TrackIdBook(confirm_frames=1, max_lost_frames=0)

    updates = run(book, [True, False, True])

    assert [u.reported for u in updates] == [{OBJ: 1}, {}, {OBJ: 2}]


def test_clear_forgets_tracks_but_keeps_counting_ids():
    book = TrackIdBook(confirm_frames=1)
    run(book, [True], obj_id=0)
    run(book, [True], obj_id=1, start=1)

    book.clear()
    # A fresh transformers session numbers its objects from 0 again.
    after = run(book, [True], obj_id=0)

    assert after[0].reported == {0: 3}


def test_frames_tracked_counts_from_the_first_sighting():
    book = TrackIdBook(confirm_frames=2)
    run(book, [True, True, True], start=10)

    assert book.frames_tracked(OBJ, 12) == 2
