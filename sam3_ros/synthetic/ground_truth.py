"""Ground truth of one frame: each visible object's mask, identity, colour and shape."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from sam3_ros.synthetic.vocabulary import category_names, parse_prompt


@dataclass(frozen=True)
class ObjectAnnotation:
    obj_id: int
    colour: str
    shape: str
    mask: np.ndarray  # HxW bool, the visible part: occluders and the frame border cut it
    amodal_box: tuple[float, float, float, float]  # x0, y0, x1, y1 pixels of the whole shape, may leave the frame
    amodal_area: float  # pixels of the whole shape, seen or not

    @property
    def category(self) -> str:
        return f"{self.colour} {self.shape}"

    @property
    def category_id(self) -> int:
        return category_names().index(self.category) + 1

    @property
    def visible_box(self) -> tuple[int, int, int, int]:
        """x0, y0, x1, y1 (exclusive) of the visible mask."""
        ys, xs = np.nonzero(self.mask)
        return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1

    @property
    def visibility(self) -> float:
        """Visible share of the whole shape, in [0, 1] (MOTChallenge's visibility ratio)."""
        return min(1.0, float(self.mask.sum()) / max(self.amodal_area, 1.0))


@dataclass(frozen=True)
class FrameAnnotations:
    frame_idx: int  # from 0
    width: int
    height: int
    objects: tuple[ObjectAnnotation, ...]  # only those with at least one visible pixel

    def matching(self, phrase: str) -> tuple[ObjectAnnotation, ...]:
        ids = ids_matching_prompt(self.objects, phrase)
        return tuple(obj for obj in self.objects if obj.obj_id in ids)


class HasConcept(Protocol):
    obj_id: int
    colour: str
    shape: str


def ids_matching_prompt(objects: Iterable[HasConcept], phrase: str) -> set[int]:
    """Ids of the objects that `phrase` names: "red circle" the red circles, "circle" circles of any colour.

    Takes frame annotations or a scene's objects; raises ValueError for a phrase outside the vocabulary.
    """
    concept = parse_prompt(phrase)
    return {obj.obj_id for obj in objects if concept.matches(obj.colour, obj.shape)}
