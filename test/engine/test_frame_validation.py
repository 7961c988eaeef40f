"""Frames the engine cannot use are refused with a message that says what is wrong, and do no harm."""

import numpy as np
import pytest

from sam3_ros.engine.frame_preprocessing import FrameError

MAX_PIXELS = 160 * 68  # exactly one bikes frame

BAD_FRAMES = {
    "none": (None, "numpy array.*NoneType"),
    "list": ([[[0, 0, 0]] * 4] * 4, "numpy array.*list"),
    "float32": (np.zeros((68, 160, 3), np.float32), "uint8.*float32"),
    "2-D": (np.zeros((68, 160), np.uint8), r"shape \(height, width, 3\)"),
    "4 channels": (np.zeros((68, 160, 4), np.uint8), r"shape \(height, width, 3\)"),
    "0x0": (np.zeros((0, 0, 3), np.uint8), "at least 2x2"),
    "1xN": (np.zeros((1, 160, 3), np.uint8), "at least 2x2"),
    "too many pixels": (np.zeros((69, 160, 3), np.uint8), "max_image_pixels"),
}


@pytest.mark.parametrize("frame, message", BAD_FRAMES.values(), ids=BAD_FRAMES.keys())
def test_bad_frame_is_refused_and_tracking_goes_on(make_tracker, bikes_frames, frame, message):
    tracker = make_tracker("person", "bicycle", confirm_frames=1, max_image_pixels=MAX_PIXELS)
    before = tracker.process(bikes_frames[0])

    with pytest.raises(FrameError, match=message):
        tracker.process(frame)
    after = tracker.process(bikes_frames[1])

    assert len(after.instances) == 2
    assert [i.track_id for i in after.instances] == [i.track_id for i in before.instances]
    assert after.frame_index == before.frame_index + 1, "a refused frame is not counted"
