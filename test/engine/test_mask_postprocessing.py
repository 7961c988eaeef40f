"""Post-processing at mask resolution gives exactly the masks of a full-frame upsampling."""

import numpy as np
import pytest
import torch

from sam3_ros.engine.mask_postprocessing import (
    keep_one_owner_per_pixel,
    masks_at_source_size,
    pack_bits,
    upsample_in_region,
    visibility_and_boxes,
)


def blobs(count: int, size: int, seed: int) -> torch.Tensor:
    """Mask logits that are positive on a few compact blobs and negative elsewhere, like real masks."""
    generator = torch.Generator().manual_seed(seed)
    logits = torch.full((count, size, size), -3.0)
    for index in range(count):
        y, x = torch.randint(0, size, (2,), generator=generator).tolist()
        h, w = torch.randint(1, size // 3, (2,), generator=generator).tolist()
        logits[index, y : y + h, x : x + w] = torch.rand(min(h, size - y), min(w, size - x), generator=generator) + 0.01
        logits[index] += 0.5 * torch.randn(size, size, generator=generator).clamp(max=0)
    return logits


@pytest.mark.parametrize("mask_size", [32, 288])
@pytest.mark.parametrize("height, width", [(720, 1280), (68, 160), (481, 641), (272, 640), (17, 1023)])
def test_a_region_upsamples_to_the_full_frame_masks(mask_size, height, width):
    logits = blobs(6, mask_size, seed=height + width)
    full = masks_at_source_size(logits, height, width)
    summary = visibility_and_boxes(logits).tolist()

    for index, row in enumerate(summary):
        (x0, y0, x1, y1), part = upsample_in_region(logits[index], row[1:], height, width)
        pasted = torch.zeros(height, width, dtype=torch.bool)
        pasted[y0:y1, x0:x1] = part
        assert torch.equal(pasted, full[index]), f"object {index}, region {(x0, y0, x1, y1)}"


def test_visibility_and_boxes_at_mask_resolution():
    logits = torch.full((2, 8, 10), -1.0)
    logits[0, 2:5, 3:7] = 1.0

    assert visibility_and_boxes(logits).tolist() == [[1, 3, 2, 7, 5], [0, 0, 0, 10, 8]]


def test_an_overlapping_pixel_belongs_to_the_best_object_of_its_prompt_only():
    logits = torch.full((3, 4, 4), -1.0)
    logits[:, 1:3, 1:3] = 1.0  # all three claim the same pixels
    scores = torch.tensor([0.5, 0.9, 0.7])

    owned = keep_one_owner_per_pixel(logits, scores, groups=[1, 1, 2]) > 0

    assert not owned[0].any() and owned[1, 1:3, 1:3].all()  # prompt 1: the 0.9 object wins
    assert owned[2, 1:3, 1:3].all()  # prompt 2 is on its own


def test_bits_pack_as_numpy_packs_them():
    flat = torch.rand(1000 * 7 + 3) > 0.5

    packed = pack_bits(flat).numpy()

    assert np.array_equal(packed, np.packbits(flat.numpy(), bitorder="little"))
