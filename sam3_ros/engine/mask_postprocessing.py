"""From the model's low-resolution mask logits to published masks, on the device.

Everything that concerns all objects (who owns an overlapping pixel, who is visible, where each
one is) is decided on the low-resolution masks (SAM 3's 288 x 288). Only the objects that are
published are upsampled, and only inside their own region of the frame; the host receives those
crops bit-packed, in one transfer.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from sam3_ros.engine.visual_prompts import VISUAL_PROMPT_ID

# What an overlapping pixel's logit becomes for the objects that do not own it: as SAM 3's own
# non-overlap constraint, far below the decision boundary, so upsampling cannot revive it.
_NOT_OWNED = -10.0


def masks_at_source_size(low_res_logits: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(N, h, w) logits -> (N, height, width) bool masks, as SAM 3's processor upsamples them."""
    upsampled = F.interpolate(low_res_logits.unsqueeze(1).float(), size=(height, width), mode="bilinear", align_corners=False)
    return upsampled.squeeze(1) > 0


def prompt_groups(prompt_ids: list[int]) -> list[list[int]]:
    """Positions of equal prompt ids, in order of first appearance: [1, 2, 1] -> [[0, 2], [1]].

    SAM 3's per-prompt rules (one owner per pixel, area shrinkage, suppression after occlusion)
    hold within a group. Every visual object (VISUAL_PROMPT_ID) is a group of its own: each click
    is its own intent, so a part and its whole, or two neighbouring parcels, keep their pixels:
    [0, 1, 0] -> [[0], [1], [2]].
    """
    members_of: dict[object, list[int]] = {}
    for position, prompt_id in enumerate(prompt_ids):
        key = ("visual", position) if prompt_id == VISUAL_PROMPT_ID else prompt_id
        members_of.setdefault(key, []).append(position)
    return list(members_of.values())


def keep_one_owner_per_pixel(logits: torch.Tensor, scores: torch.Tensor, groups: list[int]) -> torch.Tensor:
    """Within each group (prompt, see `prompt_groups`), an overlapping low-resolution pixel stays
    positive only for the highest-scoring object that claims it (the first of equal scores).

    Objects of different prompts may overlap ("person" and "cyclist" can both claim a pixel), and
    so may visual objects.
    Groups come from the host, so nothing waits for the device.
    """
    result = logits.float().clone()
    for members in prompt_groups(groups):
        if len(members) < 2:
            continue
        # non_blocking: a plain host-to-device copy would wait for all queued device work
        index = torch.tensor(members).to(logits.device, non_blocking=True)
        claims = result[index]
        owner = torch.where(claims > 0, scores[index, None, None], -1.0).max(dim=0).indices
        owned = owner == torch.arange(len(members), device=logits.device)[:, None, None]
        result[index] = torch.where(owned, claims, claims.clamp(max=_NOT_OWNED))
    return result


def visibility_and_boxes(logits: torch.Tensor) -> torch.Tensor:
    """(N, h, w) logits -> (N, 5) long: visible, then x_min, y_min, x_max, y_max (max exclusive) in mask pixels."""
    masks = logits > 0
    height, width = masks.shape[-2:]
    rows = masks.any(dim=2).to(torch.uint8)
    cols = masks.any(dim=1).to(torch.uint8)
    box = torch.stack(
        [cols.argmax(dim=1), rows.argmax(dim=1), width - cols.flip(1).argmax(dim=1), height - rows.flip(1).argmax(dim=1)],
        dim=1,
    )
    return torch.cat([masks.flatten(1).any(dim=1, keepdim=True).long(), box], dim=1)


def upsample_in_region(logits: torch.Tensor, box: list[int], height: int, width: int):
    """One object's (h, w) logits -> (region, its part of the height x width bool mask).

    `box` (x0, y0, x1, y1, max exclusive) bounds the positive mask pixels. The mask is upsampled
    only over a region around it, with exactly the bilinear sampling of `masks_at_source_size`:
    the region starts on a mask pixel whose source coordinate is an integer (multiples of
    w / gcd(width, w) mask pixels), and is resized with the frame's own scale factor, so its
    sample points are the full frame's. It keeps one non-positive mask pixel beyond the box on
    every side, so every source pixel outside the region is negative in the full mask as well.
    Returns ((x0, y0, x1, y1) in source pixels, bool tensor (y1 - y0, x1 - x0)).
    """
    mask_height, mask_width = logits.shape
    (col0, col1), (x0, x1) = _aligned_span(box[0], box[2], mask_width, width)
    (row0, row1), (y0, y1) = _aligned_span(box[1], box[3], mask_height, height)
    crop = logits[row0:row1, col0:col1][None, None].float()
    scale = (height / mask_height, width / mask_width)
    upsampled = F.interpolate(crop, scale_factor=scale, mode="bilinear", align_corners=False, recompute_scale_factor=False)
    return (x0, y0, x1, y1), upsampled[0, 0, : y1 - y0, : x1 - x0] > 0


def _aligned_span(first: int, end: int, mask_size: int, source_size: int):
    """Mask pixels [m0, m1) and source pixels [s0, s1) of a region around positive mask pixels [first, end).

    Source pixel s samples mask pixels floor(c) and floor(c) + 1 at c = (s + 0.5) * m / s_size - 0.5:
    only s < s1 can reach a positive one, and starting one mask pixel early covers the other side.
    """
    step = mask_size // math.gcd(mask_size, source_size)  # mask pixels between source-aligned mask pixels
    m0 = max(0, first - 1) // step * step
    s0 = m0 * source_size // mask_size
    s1 = max(s0, min(source_size, -(-((2 * end + 1) * source_size - mask_size) // (2 * mask_size))))
    m1 = min(mask_size, max(end + 1, m0 - (-(s1 - s0) * mask_size // source_size)))
    return (m0, m1), (s0, s1)


def download_masks(flat: torch.Tensor) -> np.ndarray:
    """A flat bool tensor -> the same on the host, in one transfer of an eighth of its bytes.

    On the CPU there is no transfer to shrink, and packing would only cost time.
    """
    if flat.device.type == "cpu":
        return flat.numpy()
    return np.unpackbits(pack_bits(flat).cpu().numpy(), count=flat.numel(), bitorder="little").astype(bool)


def pack_bits(flat: torch.Tensor) -> torch.Tensor:
    """Flat bool -> uint8, eight pixels a byte, first pixel in the lowest bit (numpy's bitorder="little").

    Eight bool bytes read as one little-endian int64, times 0x0102040810204080, carry all eight
    bits into the top byte: three kernels whatever the size, no per-bit loop.
    """
    words = F.pad(flat, (0, -flat.numel() % 8)).view(torch.uint8).view(torch.int64)
    return ((words * 0x0102040810204080) >> 56).to(torch.uint8)
