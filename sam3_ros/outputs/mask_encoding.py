"""Binary masks as uncompressed COCO run-length encoding (the `mask_rle` field of Instance).

Uncompressed COCO RLE was chosen over a cropped mono8 image because it is exact at full
resolution, a few hundred integers for a typical object, decodable in a few lines in any
language, and convertible losslessly to the compressed COCO form that pycocotools and
dataset tools read (`to_coco_rle`).

Layout: the mask is flattened in column-major (Fortran) order; counts alternate runs of
0s and 1s and always start with a run of 0s, which may have length 0.
"""

from __future__ import annotations

import numpy as np
from pycocotools import mask as coco_mask


def encode_mask(mask: np.ndarray) -> np.ndarray:
    """Encode an HxW boolean mask as uint32 run lengths."""
    flat = np.asarray(mask, dtype=bool).ravel(order="F")
    if flat.size == 0:
        return np.zeros(1, dtype=np.uint32)
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    boundaries = np.concatenate(([0], change, [flat.size]))
    counts = np.diff(boundaries)
    if flat[0]:
        counts = np.concatenate(([0], counts))
    return counts.astype(np.uint32)


def decode_mask(counts, height: int, width: int) -> np.ndarray:
    """Decode run lengths from `encode_mask` (or an Instance's mask_rle) to an HxW bool array."""
    counts = np.asarray(counts, dtype=np.int64)
    if counts.sum() != height * width:
        raise ValueError(f"run lengths sum to {int(counts.sum())}, but the mask is {height}x{width}={height * width}")
    values = np.arange(counts.size) % 2 == 1
    return np.repeat(values, counts).reshape((height, width), order="F")


def to_coco_rle(counts, height: int, width: int) -> dict:
    """Compressed COCO RLE ({'size': [h, w], 'counts': str}) as pycocotools and COCO JSON use it."""
    rle = coco_mask.frPyObjects({"size": [height, width], "counts": [int(c) for c in counts]}, height, width)
    return {"size": [height, width], "counts": rle["counts"].decode("ascii")}
