"""The scene model: which objects a sequence holds, how they look, and how they move.

Every quantity in pixels is given for a 240-pixel-high frame and scaled with the frame's smaller
side, so that any frame size shows the same scene.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sam3_ros.synthetic.shapes import UNIT_OUTLINES
from sam3_ros.synthetic.vocabulary import COLOUR_RANGES, COLOURS, DISTRACTOR_SHAPES, PROMPT_SHAPES

REFERENCE_SIDE = 240.0
SIZE_RANGE = (20.0, 60.0)
MAX_SPEED = 6.0
SHADINGS = ("flat", "linear", "radial", "textured", "outlined")


@dataclass(frozen=True)
class ObjectAppearance:
    hsv: tuple[int, int, int]  # OpenCV ranges: hue 0-180, saturation and value 0-255
    shading: str  # one of SHADINGS
    shading_strength: float
    shading_angle: float
    antialiased: bool


@dataclass(frozen=True)
class SceneObject:
    obj_id: int  # stable over the sequence, from 1
    colour: str
    shape: str
    appearance: ObjectAppearance
    size: float  # pixels across at the first frame
    distortion: np.ndarray | None  # per-vertex jitter of the unit outline (triangles only)
    depth: int  # larger is nearer the camera: it occludes smaller depths
    bounces: bool  # stays in view, bouncing off the borders, or crosses the view and leaves


@dataclass(frozen=True)
class ObjectPose:
    centre: tuple[float, float]
    size: float
    angle: float


@dataclass(frozen=True)
class CameraModel:
    """What the camera adds to every frame; the per-frame noise itself is drawn per frame."""

    blur_sigma: float
    noise_sigma: float
    jpeg_quality: int | None
    gain: tuple[float, float, float]  # white balance, per RGB channel
    gamma: float
    flicker: float  # frame-to-frame brightness change


@dataclass(frozen=True)
class Scene:
    width: int
    height: int
    objects: tuple[SceneObject, ...]
    poses: tuple[tuple[ObjectPose, ...], ...]  # [frame][object], in the order of `objects`
    background_seed: int
    pan: tuple[float, float]  # background drift, pixels per frame
    camera: CameraModel

    @property
    def num_frames(self) -> int:
        return len(self.poses)

    @property
    def scale(self) -> float:
        return min(self.width, self.height) / REFERENCE_SIDE


def sample_scene(
    rng: np.random.Generator, width: int, height: int, num_frames: int, max_objects: int = 6, max_distractors: int = 2
) -> Scene:
    scale = min(width, height) / REFERENCE_SIDE
    num_objects = int(rng.integers(1, max_objects + 1))
    num_distractors = int(rng.integers(0, max_distractors + 1))
    shapes = [str(rng.choice(PROMPT_SHAPES)) for _ in range(num_objects)] + [
        str(rng.choice(DISTRACTOR_SHAPES)) for _ in range(num_distractors)
    ]
    depths = rng.permutation(len(shapes))
    objects = tuple(
        _sample_object(rng, obj_id=index + 1, shape=shape, depth=int(depths[index]), scale=scale) for index, shape in enumerate(shapes)
    )
    poses = _simulate_motion(rng, objects, width, height, num_frames, scale)
    pan = tuple(float(v) for v in rng.uniform(-1.0, 1.0, 2) * scale * (rng.random() < 0.5))
    return Scene(width, height, objects, poses, int(rng.integers(2**31)), pan, _sample_camera(rng, scale))


def _sample_object(rng: np.random.Generator, obj_id: int, shape: str, depth: int, scale: float) -> SceneObject:
    colour = str(rng.choice(COLOURS))
    (hue_centre, hue_spread), min_saturation, min_value = COLOUR_RANGES[colour]
    hue = (hue_centre + int(rng.integers(-hue_spread, hue_spread + 1))) % 180
    appearance = ObjectAppearance(
        hsv=(hue, int(rng.integers(min_saturation, 256)), int(rng.integers(min_value, 256))),
        shading=str(rng.choice(SHADINGS)),
        shading_strength=float(rng.uniform(0.1, 0.45)),
        shading_angle=float(rng.uniform(0, 2 * np.pi)),
        antialiased=bool(rng.random() < 0.7),
    )
    distortion = rng.uniform(-0.12, 0.12, UNIT_OUTLINES[shape].shape) if shape == "triangle" else None
    return SceneObject(
        obj_id=obj_id,
        colour=colour,
        shape=shape,
        appearance=appearance,
        size=float(rng.uniform(*SIZE_RANGE)) * scale,
        distortion=distortion,
        depth=depth,
        bounces=bool(rng.random() < 0.7),
    )


def _simulate_motion(rng, objects, width: int, height: int, num_frames: int, scale: float) -> tuple[tuple[ObjectPose, ...], ...]:
    """Constant velocity with a small random acceleration, a slow spin and a slow change of size.

    Bouncing objects start inside the frame and reflect off its borders. The others enter from
    outside, at a random frame, and cross the view until they leave it.
    """
    max_speed = MAX_SPEED * scale
    tracks = []
    for obj in objects:
        speed = rng.uniform(0.2, 1.0) * max_speed
        if obj.bounces:
            radius = obj.size / 2
            position = np.array([rng.uniform(radius, max(radius, width - radius)), rng.uniform(radius, max(radius, height - radius))])
            direction = rng.uniform(0, 2 * np.pi)
        else:
            position, direction = _entry_point(rng, obj.size, width, height)
        velocity = speed * np.array([np.cos(direction), np.sin(direction)])
        if not obj.bounces:
            position = position - velocity * rng.integers(0, max(1, num_frames // 2))  # enters later
        angle, spin = rng.uniform(0, 2 * np.pi), rng.uniform(-0.08, 0.08)
        breathing_amplitude, breathing_period, breathing_phase = rng.uniform(0, 0.25), rng.uniform(20, 120), rng.uniform(0, 2 * np.pi)
        poses = []
        for frame_idx in range(num_frames):
            size = obj.size * (1 + breathing_amplitude * np.sin(2 * np.pi * frame_idx / breathing_period + breathing_phase))
            poses.append(ObjectPose((float(position[0]), float(position[1])), float(size), float(angle)))
            velocity = velocity + rng.normal(0, 0.15 * scale, 2)
            speed_now = np.linalg.norm(velocity)
            if speed_now > max_speed:
                velocity *= max_speed / speed_now
            position = position + velocity
            angle += spin
            if obj.bounces:
                position, velocity = _bounce(position, velocity, size / 2, width, height)
        tracks.append(poses)
    return tuple(zip(*tracks)) if tracks else tuple(() for _ in range(num_frames))


def _entry_point(rng, size: float, width: int, height: int) -> tuple[np.ndarray, float]:
    """A point just outside a random border, and a heading into the frame."""
    edge = int(rng.integers(4))
    outside = size / 2 + 1
    inward = [0.0, np.pi, np.pi / 2, -np.pi / 2][edge]  # from the left, right, top, bottom border
    along_x, along_y = rng.uniform(0, width), rng.uniform(0, height)
    position = [
        np.array([-outside, along_y]),
        np.array([width + outside, along_y]),
        np.array([along_x, -outside]),
        np.array([along_x, height + outside]),
    ][edge]
    return position, inward + rng.uniform(-0.6, 0.6)


def _bounce(position: np.ndarray, velocity: np.ndarray, radius: float, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    position, velocity = position.copy(), velocity.copy()
    for axis, limit in ((0, width), (1, height)):
        if position[axis] < radius and velocity[axis] < 0:
            velocity[axis] = -velocity[axis]
            position[axis] = 2 * radius - position[axis]
        elif position[axis] > limit - radius and velocity[axis] > 0:
            velocity[axis] = -velocity[axis]
            position[axis] = 2 * (limit - radius) - position[axis]
    return position, velocity


def _sample_camera(rng: np.random.Generator, scale: float) -> CameraModel:
    # White balance and gamma stay mild: stronger ones turn yellow into mustard and blue into lavender,
    # and the colour words would stop meaning what they say.
    return CameraModel(
        blur_sigma=float(rng.choice([0.0, rng.uniform(0.3, 1.5)])) * scale,
        noise_sigma=float(rng.uniform(0, 12)),
        jpeg_quality=int(rng.integers(30, 96)) if rng.random() < 0.4 else None,
        gain=tuple(float(g) for g in rng.uniform(0.95, 1.05, 3)),
        gamma=float(rng.uniform(0.85, 1.15)),
        flicker=float(rng.uniform(0, 0.05)),
    )
