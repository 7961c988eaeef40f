"""Synthetic video scenes of coloured shapes with exact ground truth, deterministic from a seed.

`generate_sequence(seed, width, height, num_frames)` gives the frames and, per frame, every visible
object's mask, identity, colour and shape; `ids_matching_prompt` says which of them a noun phrase
such as "red circle" or "triangle" names; `ground_truth_writers` writes MOTChallenge and
YouTube-VIS files. numpy and OpenCV only: no torch, no ROS.
"""

from sam3_ros.synthetic.ground_truth import FrameAnnotations, ObjectAnnotation, ids_matching_prompt
from sam3_ros.synthetic.sequences import SyntheticSequence, generate_sequence
from sam3_ros.synthetic.vocabulary import COLOURS, PROMPT_SHAPES, Concept, all_prompt_phrases, parse_prompt

__all__ = [
    "COLOURS",
    "PROMPT_SHAPES",
    "Concept",
    "FrameAnnotations",
    "ObjectAnnotation",
    "SyntheticSequence",
    "all_prompt_phrases",
    "generate_sequence",
    "ids_matching_prompt",
    "parse_prompt",
]
