"""Training and evaluation samples drawn from the synthetic scenes, each a pure function of its seed.

Seeds split the world: the detector trains on seeds from 1,000,000 up (sample n of the run is
seed 1,000,000 + n, so a resumed run sees exactly the samples it would have seen), the tracker on
clips from 20,000,000 up; validation is 1000-1999 and test 0-999, which training never sees.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from sam3_ros.engine.frame_preprocessing import frame_to_pixel_values
from sam3_ros.synthetic import FrameAnnotations, ObjectAnnotation, generate_sequence
from sam3_ros.synthetic.splits import TRAIN_SEED_START
from sam3_ros.synthetic.vocabulary import PROMPT_SHAPES, all_prompt_phrases, parse_prompt

IMAGE_SIZE = 112
MASK_SIZE = 32  # the detector's low-resolution masks
# Varied frame sizes and aspect ratios, as cameras give; the model sees every one squashed to 112x112.
TRAIN_FRAME_SIZES = ((160, 120), (224, 168), (320, 240), (256, 256), (320, 180), (400, 300), (200, 200))
EVAL_FRAME_SIZE = (320, 240)
SEQUENCE_FRAMES = 24
# Objects showing less than this share of the frame (slivers at a border, behind an occluder;
# the smallest whole object is 4e-3) are below what a 112-pixel input can resolve:
# they are no target (and a prompt that only they match is no negative either).
MIN_TARGET_AREA = 1.5e-3
PRESENT_PROMPT_SHARE = 0.6
# Zoom: most training frames are a random window of the rendered frame, so objects are seen at up
# to twice their size as well (easier early, and scale variety); evaluation sees whole frames.
ZOOM_SHARE, SMALLEST_WINDOW = 0.6, 0.5


@dataclass
class DetectionTarget:
    """What one prompt should find in one frame."""

    phrase: str
    masks: torch.Tensor  # (N, 32, 32) float in [0, 1], the visible masks at the model's mask size
    boxes: torch.Tensor  # (N, 4) x0, y0, x1, y1 normalised by the frame size, as pred_boxes

    @property
    def present(self) -> bool:
        return len(self.masks) > 0

    @property
    def semantic_mask(self) -> torch.Tensor:
        return self.masks.amax(0) if self.present else torch.zeros(MASK_SIZE, MASK_SIZE)


@dataclass
class EvalFrame:
    pixel_values: torch.Tensor  # (3, 112, 112)
    annotations: FrameAnnotations


def is_target(obj: ObjectAnnotation, frame: FrameAnnotations) -> bool:
    return obj.mask.sum() >= MIN_TARGET_AREA * frame.width * frame.height


def detection_target(phrase: str, frame: FrameAnnotations) -> DetectionTarget:
    objects = [obj for obj in frame.matching(phrase) if is_target(obj, frame)]
    masks = [cv2.resize(obj.mask.astype(np.float32), (MASK_SIZE, MASK_SIZE), interpolation=cv2.INTER_AREA) for obj in objects]
    scale = np.array([frame.width, frame.height, frame.width, frame.height], dtype=np.float32)
    boxes = [np.array(obj.visible_box, dtype=np.float32) / scale for obj in objects]
    return DetectionTarget(
        phrase,
        torch.from_numpy(np.stack(masks)) if masks else torch.zeros(0, MASK_SIZE, MASK_SIZE),
        torch.from_numpy(np.stack(boxes)) if boxes else torch.zeros(0, 4),
    )


def choose_prompt(rng: np.random.Generator, frame: FrameAnnotations) -> str:
    """A phrase for the frame: 60 % one that is there, else one that is not, preferring hard
    negatives (the colour or the shape of an object that is there, with the other word changed)."""
    targets = [obj for obj in frame.objects if is_target(obj, frame) and obj.shape in PROMPT_SHAPES]
    if targets and rng.random() < PRESENT_PROMPT_SHARE:
        obj = targets[rng.integers(len(targets))]
        return obj.category if rng.random() < 0.7 else obj.shape
    absent = [phrase for phrase in all_prompt_phrases() if not frame.matching(phrase)]
    if not absent:
        return str(rng.choice(all_prompt_phrases()))
    seen_colours = {obj.colour for obj in frame.objects}
    seen_shapes = {obj.shape for obj in frame.objects}
    hardness = [3.0 if (parse_prompt(p).colour in seen_colours or parse_prompt(p).shape in seen_shapes) else 1.0 for p in absent]
    return str(rng.choice(absent, p=np.array(hardness) / sum(hardness)))


def training_sample(sample_index: int) -> tuple[torch.Tensor, DetectionTarget]:
    seed = TRAIN_SEED_START + sample_index
    rng = np.random.default_rng((seed, 1))  # the choices here, apart from the scene's own stream
    width, height = TRAIN_FRAME_SIZES[rng.integers(len(TRAIN_FRAME_SIZES))]
    sequence = generate_sequence(seed, width, height, SEQUENCE_FRAMES)
    image, frame = sequence.frame(int(rng.integers(SEQUENCE_FRAMES)))
    if rng.random() < 0.5:  # mirror: shapes and colours keep their names
        image, frame = _mirrored(image, frame)
    if rng.random() < ZOOM_SHARE:
        image, frame = _zoomed(image, frame, rng)
    return frame_to_pixel_values(image, IMAGE_SIZE, "cpu", torch.float32), detection_target(choose_prompt(rng, frame), frame)


def _mirrored(image: np.ndarray, frame: FrameAnnotations) -> tuple[np.ndarray, FrameAnnotations]:
    objects = []
    for obj in frame.objects:
        x0, y0, x1, y1 = obj.amodal_box
        amodal_box = (frame.width - x1, y0, frame.width - x0, y1)
        objects.append(ObjectAnnotation(obj.obj_id, obj.colour, obj.shape, obj.mask[:, ::-1].copy(), amodal_box, obj.amodal_area))
    return np.ascontiguousarray(image[:, ::-1]), FrameAnnotations(frame.frame_idx, frame.width, frame.height, tuple(objects))


def _zoomed(image: np.ndarray, frame: FrameAnnotations, rng: np.random.Generator) -> tuple[np.ndarray, FrameAnnotations]:
    """A random window of the frame, of the frame's aspect, with the objects that show in it."""
    scale = rng.uniform(SMALLEST_WINDOW, 1.0)
    width, height = max(8, int(frame.width * scale)), max(8, int(frame.height * scale))
    x0, y0 = int(rng.integers(frame.width - width + 1)), int(rng.integers(frame.height - height + 1))
    objects = []
    for obj in frame.objects:
        mask = obj.mask[y0 : y0 + height, x0 : x0 + width]
        if mask.any():
            bx0, by0, bx1, by1 = obj.amodal_box
            objects.append(
                ObjectAnnotation(obj.obj_id, obj.colour, obj.shape, mask.copy(), (bx0 - x0, by0 - y0, bx1 - x0, by1 - y0), obj.amodal_area)
            )
    return image[y0 : y0 + height, x0 : x0 + width].copy(), FrameAnnotations(frame.frame_idx, width, height, tuple(objects))


def training_batch(first_sample: int, batch_size: int) -> tuple[torch.Tensor, list[DetectionTarget]]:
    samples = [training_sample(first_sample + i) for i in range(batch_size)]
    return torch.stack([pixels for pixels, _ in samples]), [target for _, target in samples]


def eval_frame(seed: int) -> EvalFrame:
    """One frame of the sequence of a held-out seed, at the camera-like 320x240."""
    sequence = generate_sequence(seed, *EVAL_FRAME_SIZE, SEQUENCE_FRAMES)
    image, frame = sequence.frame(seed % SEQUENCE_FRAMES)
    return EvalFrame(frame_to_pixel_values(image, IMAGE_SIZE, "cpu", torch.float32), frame)


# --- tracker clips -----------------------------------------------------------------------------

TRACK_SEED_START = 20_000_000  # far above the detector's training seeds
PROMPT_KINDS = ("mask", "box", "click")
# The node prompts its tracker with detector masks, an operator with boxes and clicks. Until step
# 19,613 the shares were 0.6/0.2/0.2: masks were followed at IoU 0.63 on test clips, boxes and
# clicks at 0.09 and 0.10 (a click's position was ignored), so points now get most of the steps.
PROMPT_KIND_SHARES = (0.3, 0.35, 0.35)


@dataclass
class TrackingClip:
    """A batch of short clips, one object each, prompted on their first frame in one way."""

    pixels: torch.Tensor  # (T, B, 3, 112, 112)
    masks: torch.Tensor  # (T, B, 32, 32) float in [0, 1], the object's visible mask
    present: torch.Tensor  # (T, B) bool: visible enough to be a target
    prompt_kind: str  # one of PROMPT_KINDS
    prompt_masks: torch.Tensor  # (B, 1, 112, 112) the first frame's mask at the model's size
    prompt_boxes: torch.Tensor  # (B, 4) x0, y0, x1, y1 in pixels of the 112-pixel input
    prompt_clicks: torch.Tensor  # (B, 2) x, y in pixels of the 112-pixel input, inside the object


def _model_scale(frame: FrameAnnotations) -> np.ndarray:
    return np.array([IMAGE_SIZE / frame.width, IMAGE_SIZE / frame.height], dtype=np.float32)


def _clip_of_one_object(seed: int, length: int):
    """(pixels, masks, present, prompt mask, box, click) of one object over `length` frames."""
    rng = np.random.default_rng((seed, 2))
    width, height = TRAIN_FRAME_SIZES[rng.integers(len(TRAIN_FRAME_SIZES))]
    stride = int(rng.integers(1, 3))  # every other frame: faster motion, more change between frames
    sequence = generate_sequence(seed, width, height, SEQUENCE_FRAMES)
    start = int(rng.integers(SEQUENCE_FRAMES - stride * (length - 1)))
    rendered = [sequence.frame(start + stride * i) for i in range(length)]
    _, first = rendered[0]
    candidates = [obj for obj in first.objects if is_target(obj, first)]
    if not candidates:
        return None
    obj_id = candidates[rng.integers(len(candidates))].obj_id
    pixels, masks, present = [], [], []
    for image, frame in rendered:
        pixels.append(frame_to_pixel_values(image, IMAGE_SIZE, "cpu", torch.float32))
        obj = next((o for o in frame.objects if o.obj_id == obj_id), None)
        mask = obj.mask if obj is not None else np.zeros((frame.height, frame.width), dtype=bool)
        masks.append(torch.from_numpy(cv2.resize(mask.astype(np.float32), (MASK_SIZE, MASK_SIZE), interpolation=cv2.INTER_AREA)))
        present.append(obj is not None and is_target(obj, frame))
    target = next(o for o in first.objects if o.obj_id == obj_id)
    prompt_mask = cv2.resize(target.mask.astype(np.float32), (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_AREA) >= 0.5
    scale = _model_scale(first)
    x0, y0, x1, y1 = target.visible_box
    box = np.array([x0, y0, x1, y1], dtype=np.float32) * np.tile(scale, 2)
    ys, xs = np.nonzero(target.mask)
    pick = rng.integers(len(xs))
    click = np.array([xs[pick], ys[pick]], dtype=np.float32) * scale
    return (
        torch.stack(pixels),
        torch.stack(masks),
        torch.tensor(present),
        torch.from_numpy(prompt_mask)[None].float(),
        torch.from_numpy(box),
        torch.from_numpy(click),
    )


def tracking_clips(
    first_clip: int, batch_size: int, length: int, seed_start: int = TRACK_SEED_START, prompt_kind: str | None = None
) -> tuple[TrackingClip, int]:
    """A batch of clips from consecutive clip seeds from `seed_start`, and the next unused seed
    index (a seed whose first frame shows no object is skipped). The prompt kind is drawn unless given."""
    clips, index = [], first_clip
    while len(clips) < batch_size:
        clip = _clip_of_one_object(seed_start + index, length)
        index += 1
        if clip is not None:
            clips.append(clip)
    kind = prompt_kind or PROMPT_KINDS[np.random.default_rng((first_clip, 3)).choice(len(PROMPT_KINDS), p=PROMPT_KIND_SHARES)]
    pixels, masks, present, prompt_masks, boxes, clicks = zip(*clips)
    per_frame = (torch.stack(pixels, 1), torch.stack(masks, 1), torch.stack(present, 1))  # time first, then clip
    return TrackingClip(*per_frame, kind, torch.stack(prompt_masks), torch.stack(boxes), torch.stack(clicks)), index
