"""A synthetic video: a sampled scene, its frames rendered on demand, with their ground truth."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from sam3_ros.synthetic.ground_truth import FrameAnnotations, ObjectAnnotation
from sam3_ros.synthetic.rendering import background_canvas, render_frame
from sam3_ros.synthetic.scenes import Scene, sample_scene
from sam3_ros.synthetic.shapes import outline, polygon_area


class SyntheticSequence:
    """Frames and ground truth of one seed. Any frame can be rendered alone, in any order, and is
    the same every time (its noise is drawn from the seed and the frame index)."""

    def __init__(self, scene: Scene, seed: int):
        self.scene = scene
        self.seed = seed
        self._background = background_canvas(scene)

    @property
    def width(self) -> int:
        return self.scene.width

    @property
    def height(self) -> int:
        return self.scene.height

    def __len__(self) -> int:
        return self.scene.num_frames

    def frame(self, frame_idx: int) -> tuple[np.ndarray, FrameAnnotations]:
        """The frame as HxWx3 uint8 RGB and its ground truth."""
        if not 0 <= frame_idx < len(self):
            raise IndexError(f"frame {frame_idx} is outside the sequence's {len(self)} frames")
        image, visible_masks = render_frame(self.scene, frame_idx, self._background)
        objects = []
        for obj, pose, mask in zip(self.scene.objects, self.scene.poses[frame_idx], visible_masks):
            if not mask.any():
                continue
            vertices = outline(obj.shape, pose.centre, pose.size, pose.angle, obj.distortion)
            (x0, y0), (x1, y1) = vertices.min(0), vertices.max(0)
            amodal_box = (float(x0), float(y0), float(x1), float(y1))
            objects.append(ObjectAnnotation(obj.obj_id, obj.colour, obj.shape, mask, amodal_box, polygon_area(vertices)))
        return image, FrameAnnotations(frame_idx, self.width, self.height, tuple(objects))

    def __iter__(self) -> Iterator[tuple[np.ndarray, FrameAnnotations]]:
        return (self.frame(index) for index in range(len(self)))


def generate_sequence(
    seed: int, width: int = 320, height: int = 240, num_frames: int = 60, max_objects: int = 6, max_distractors: int = 2
) -> SyntheticSequence:
    """The sequence of `seed`: 1 to `max_objects` promptable shapes and up to `max_distractors` others."""
    if width < 8 or height < 8:
        raise ValueError(f"a synthetic frame must be at least 8x8 pixels, not {width}x{height}")
    rng = np.random.default_rng(seed)
    scene = sample_scene(rng, width, height, num_frames, max_objects=max_objects, max_distractors=max_distractors)
    return SyntheticSequence(scene, seed)
