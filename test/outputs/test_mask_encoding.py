"""Instance masks as uncompressed COCO RLE: exact, and readable by pycocotools."""

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays
from pycocotools import mask as coco_mask

from sam3_ros.outputs.mask_encoding import decode_mask, encode_mask, to_coco_rle

# pycocotools' own decode trips numpy 2's __array__ deprecation; nothing this package can change.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

masks = arrays(bool, array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=24), elements=st.booleans())

# Edge cases a random draw rarely hits: empty, full, a single pixel, and a mask starting with a 1-run.
EDGE_CASES = [
    np.zeros((5, 7), bool),
    np.ones((5, 7), bool),
    np.zeros((1, 1), bool),
    np.ones((1, 1), bool),
    np.eye(4, 6, dtype=bool),
]


def with_edge_cases(test):
    for mask in EDGE_CASES:
        test = example(mask)(test)
    return test


def coco_decode(rle: dict) -> np.ndarray:
    return coco_mask.decode(rle).astype(bool)


@settings(max_examples=200, deadline=None)
@with_edge_cases
@given(masks)
def test_encode_then_decode_gives_the_mask_back(mask):
    height, width = mask.shape

    counts = encode_mask(mask)

    assert counts.dtype == np.uint32
    np.testing.assert_array_equal(decode_mask(counts, height, width), mask)


@settings(max_examples=200, deadline=None)
@with_edge_cases
@given(masks)
def test_pycocotools_reads_the_run_lengths(mask):
    height, width = mask.shape
    uncompressed = {"size": [height, width], "counts": [int(c) for c in encode_mask(mask)]}

    np.testing.assert_array_equal(coco_decode(coco_mask.frPyObjects(uncompressed, height, width)), mask)


@settings(max_examples=200, deadline=None)
@with_edge_cases
@given(masks)
def test_compressed_coco_rle_decodes_to_the_mask(mask):
    height, width = mask.shape

    rle = to_coco_rle(encode_mask(mask), height, width)

    assert rle["size"] == [height, width] and isinstance(rle["counts"], str)
    np.testing.assert_array_equal(coco_decode({"size": rle["size"], "counts": rle["counts"].encode("ascii")}), mask)


@pytest.mark.parametrize("counts", [[3, 2], [3, 4], []], ids=["too few", "too many", "none"])
def test_decode_refuses_run_lengths_that_do_not_cover_the_mask(counts):
    with pytest.raises(ValueError, match="sum to"):
        decode_mask(counts, 2, 3)
