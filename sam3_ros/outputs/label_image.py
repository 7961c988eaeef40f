"""A 16-bit label image: each pixel holds the track id of the instance covering it, 0 for none."""

from __future__ import annotations

import numpy as np

from sam3_ros.engine.frame_result import FrameResult

# Track ids past 65535 wrap into 1..65535 (0 stays "no instance"): only an id that has not been
# seen for 65535 ids could collide, and consumers that need the full id read InstanceArray.
LABEL_MODULUS = 65535


def label_value(track_id: int) -> int:
    return (track_id - 1) % LABEL_MODULUS + 1


def label_image_from_masks(result: FrameResult) -> np.ndarray:
    """HxW uint16; where instances overlap, the higher-scoring one is drawn last and wins."""
    labels = np.zeros((result.height, result.width), dtype=np.uint16)
    for instance in sorted(result.instances, key=lambda i: i.score):
        labels[instance.mask] = label_value(instance.track_id)
    return labels
