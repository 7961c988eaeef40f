"""The 16-bit label image: track id where an instance is, 0 elsewhere."""

import numpy as np

from sam3_ros.engine.frame_result import FrameResult, TrackedInstance
from sam3_ros.outputs.label_image import label_image_from_masks

HEIGHT, WIDTH = 6, 8


def instance(track_id: int, score: float, rows: slice, cols: slice) -> TrackedInstance:
    mask = np.zeros((HEIGHT, WIDTH), bool)
    mask[rows, cols] = True
    return TrackedInstance(track_id, 1, "cup", score, (cols.start, rows.start, cols.stop, rows.stop), mask, 0)


def labels_of(*instances: TrackedInstance) -> np.ndarray:
    return label_image_from_masks(FrameResult(None, WIDTH, HEIGHT, 1, instances, ()))


def test_pixels_hold_the_track_id_of_their_instance_and_zero_elsewhere():
    cup, mug = instance(3, 0.9, slice(0, 2), slice(0, 3)), instance(12, 0.8, slice(4, 6), slice(5, 8))

    labels = labels_of(cup, mug)

    expected = np.zeros((HEIGHT, WIDTH), np.uint16)
    expected[cup.mask], expected[mug.mask] = 3, 12
    assert labels.dtype == np.uint16 and labels.shape == (HEIGHT, WIDTH)
    np.testing.assert_array_equal(labels, expected)


def test_overlapping_pixels_go_to_the_higher_score_whatever_the_order():
    weak, strong = instance(1, 0.3, slice(0, 4), slice(0, 4)), instance(2, 0.7, slice(2, 6), slice(2, 6))

    for order in ((weak, strong), (strong, weak)):
        labels = labels_of(*order)
        assert labels[3, 3] == 2
        assert labels[0, 0] == 1


def test_track_ids_above_65535_wrap_to_nonzero_labels():
    ids = [65535, 65536, 65537, 2 * 65535]
    instances = [instance(track_id, 0.5, slice(row, row + 1), slice(0, 1)) for row, track_id in enumerate(ids)]

    labels = labels_of(*instances)

    assert labels[:4, 0].tolist() == [65535, 1, 2, 65535]
