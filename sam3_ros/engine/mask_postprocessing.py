"""From the model's low-resolution mask logits to full-resolution masks and boxes, on the device."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def masks_at_source_size(low_res_logits: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(N, h, w) logits -> (N, height, width) bool masks, as SAM 3's processor upsamples them."""
    upsampled = F.interpolate(low_res_logits.unsqueeze(1).float(), size=(height, width), mode="bilinear", align_corners=False)
    return upsampled.squeeze(1) > 0


def keep_one_owner_per_pixel(masks: torch.Tensor, scores: torch.Tensor, groups: list[int]) -> torch.Tensor:
    """Within each group (prompt), give an overlapping pixel to the highest-scoring object only.

    Objects of different prompts may overlap ("person" and "cyclist" can both claim a pixel).
    Groups are formed on the host from the list, so nothing waits for the device.
    """
    result = masks.clone()
    members_of: dict[int, list[int]] = {}
    for position, group in enumerate(groups):
        members_of.setdefault(group, []).append(position)
    for members in members_of.values():
        if len(members) < 2:
            continue
        # non_blocking: a plain host-to-device copy would wait for all queued device work
        index = torch.tensor(members).to(masks.device, non_blocking=True)
        claimed = torch.where(masks[index], scores[index, None, None], -1.0)
        owner = claimed.max(dim=0).indices  # as argmax (first of equal scores), ten times faster on a CPU
        ranks = torch.arange(len(members), device=masks.device)[:, None, None]
        result[index] = masks[index] & (owner == ranks)
    return result


def boxes_from_masks(masks: torch.Tensor) -> torch.Tensor:
    """(N, H, W) bool -> (N, 4) long x_min, y_min, x_max, y_max with max exclusive (empty masks: undefined)."""
    height, width = masks.shape[-2:]
    rows = masks.any(dim=2).to(torch.uint8)
    cols = masks.any(dim=1).to(torch.uint8)
    y_min = rows.argmax(dim=1)
    y_max = height - rows.flip(1).argmax(dim=1)
    x_min = cols.argmax(dim=1)
    x_max = width - cols.flip(1).argmax(dim=1)
    return torch.stack([x_min, y_min, x_max, y_max], dim=1)
