"""Detection NMS and connected components for SAM 3 without the hub's `kernels-community/cv-utils` kernel.

transformers' SAM 3 video model calls two operations of that kernel through the module global
`modeling_sam3_video.cv_utils_kernel`: `generic_nms` (greedy NMS of the detector's masks over
their IoU matrix) and `cc_2d` (connected components with the size of each pixel's component, for
hole filling and sprinkle removal). When the kernel cannot be loaded (no `kernels` package, no hub
access, a CPU or an unsupported GPU) upstream silently keeps every detection and every hole, so
real weights give duplicate tracks and noisy masks. `install_mask_kernels` puts `TorchMaskKernels`
in its place: the same operations in plain torch, on the tensors' device, without host loops over
pixels or detections.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from transformers.models.sam3_video import modeling_sam3_video

logger = logging.getLogger("sam3_ros.mask_kernels")

HUB_KERNEL = "hub kernel kernels-community/cv-utils"
TORCH_KERNELS = "torch (sam3_ros.engine.mask_kernels)"


class TorchMaskKernels:
    """`generic_nms` and `cc_2d` with the hub kernel's signatures and results."""

    @staticmethod
    def generic_nms(ious: torch.Tensor, scores: torch.Tensor, iou_threshold: float, use_iou_matrix: bool = True) -> torch.Tensor:
        """Greedy NMS over a precomputed IoU matrix: the indices kept, best score first.

        Visiting detections by descending score, one is kept unless a kept, better one overlaps it
        by more than `iou_threshold`. Computed as the fixed point of "kept = not suppressed by a
        better kept one", which is unique and equals the greedy result; each round is one matrix
        product, and it takes at most as many rounds as the longest chain of suppressions.
        """
        if not use_iou_matrix:
            raise ValueError("only use_iou_matrix=True is implemented (SAM 3 passes a mask IoU matrix)")
        order = torch.sort(scores, descending=True, stable=True).indices
        count = order.numel()
        overlaps = ious[order][:, order] > iou_threshold
        # suppressor[i, j]: i comes before j in score order and overlaps it
        suppressor = (overlaps & torch.ones_like(overlaps).triu(diagonal=1)).to(torch.float32)
        kept = torch.ones(count, dtype=torch.bool, device=scores.device)
        for _ in range(count):
            updated = (kept.to(torch.float32) @ suppressor) == 0
            if torch.equal(updated, kept):
                break
            kept = updated
        return order[kept]

    @staticmethod
    def cc_2d(mask: torch.Tensor, get_counts: bool = True):
        """8-connected components of a (N, 1, H, W) mask: (labels, counts), both int32 and mask-shaped.

        Foreground (non-zero) pixels of one component share a label (the smallest flat index + 1 of
        its pixels) and `counts` holds the component's size at each of its pixels; background pixels
        have label 0 and count 0. Union-find on the device (Shiloach-Vishkin style): each round
        hooks trees onto the smallest label in each pixel's 3x3 neighbourhood, then compresses
        paths by pointer jumping, so the rounds grow with the logarithm of a component's extent.
        """
        height, width = mask.shape[-2:]
        pixels = height * width
        foreground = (mask != 0).reshape(-1, pixels)
        # parent[p]: the flat index of a pixel of p's component (p itself at first); background and
        # the padding point at `pixels`, one slot past the image, which points at itself.
        none = torch.full_like(foreground[:, :1], pixels, dtype=torch.long)
        own = torch.arange(pixels, device=mask.device).expand_as(foreground)
        parent = torch.cat([torch.where(foreground, own, pixels), none], dim=1)
        while True:
            padded = F.pad(parent[:, :pixels].reshape(-1, height, width), (1, 1, 1, 1), value=pixels)
            smallest = parent[:, :pixels].reshape(-1, height, width)
            for dy, dx in ((0, 0), (0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1), (2, 2)):
                smallest = torch.minimum(smallest, padded[:, dy : dy + height, dx : dx + width])
            smallest = torch.cat([torch.where(foreground, smallest.reshape(-1, pixels), pixels), none], dim=1)
            # hooking: the pixel p's parent adopts the smallest label next to p, which merges trees
            updated = torch.minimum(parent, smallest).scatter_reduce(1, parent, smallest, reduce="amin")
            while True:  # pointer jumping: every pixel points at its tree's root
                jumped = torch.gather(updated, 1, updated)
                if torch.equal(jumped, updated):
                    break
                updated = jumped
            if torch.equal(updated, parent):
                break
            parent = updated
        labels = parent[:, :pixels]
        offsets = torch.arange(labels.shape[0], device=mask.device).unsqueeze(1) * (pixels + 1)
        sizes = torch.bincount((labels + offsets).reshape(-1), minlength=labels.shape[0] * (pixels + 1))
        counts = torch.where(foreground, sizes[labels + offsets], 0)
        out_labels = torch.where(foreground, labels + 1, 0).to(torch.int32).reshape(mask.shape)
        out_counts = counts.to(torch.int32).reshape(mask.shape)
        return (out_labels, out_counts) if get_counts else out_labels


def install_mask_kernels(device: torch.device) -> str:
    """Make SAM 3's NMS and hole filling run on `device`; returns which implementation runs.

    The hub kernel when transformers could load it and the model is on CUDA (its only build),
    otherwise `TorchMaskKernels`, with one log line saying so. The choice is process-wide, as
    transformers keeps the kernel in a module global.
    """
    modeling_sam3_video._load_cv_utils_kernel_once()
    hub_kernel = modeling_sam3_video.cv_utils_kernel
    if hub_kernel and not isinstance(hub_kernel, TorchMaskKernels) and device.type == "cuda":
        logger.info(f"SAM 3 detection NMS and hole filling: {HUB_KERNEL}")
        return HUB_KERNEL
    modeling_sam3_video.cv_utils_kernel = TorchMaskKernels()
    logger.info(f"SAM 3 detection NMS and hole filling: {TORCH_KERNELS} (the hub kernel is not available for {device})")
    return TORCH_KERNELS
