"""Draws a scene's frames: a textured background, the objects far to near, then the camera's effects.

Objects are composited with their coverage (anti-aliased or hard edges), and an object's mask is
where its coverage is at least half, so masks and pixels agree. Blur, noise and compression come
after, as in a camera, and do not change the masks.
"""

from __future__ import annotations

import cv2
import numpy as np

from sam3_ros.synthetic.scenes import Scene, SceneObject
from sam3_ros.synthetic.shapes import outline

BACKGROUND_KINDS = ("noise", "gradient", "stripes", "checker")
_SUBPIXEL_BITS = 4  # cv2.fillPoly's `shift`: vertices on a 1/16-pixel grid


def background_canvas(scene: Scene) -> np.ndarray:
    """The scene's background as float32 RGB, larger than the frame by the pan of the whole sequence."""
    rng = np.random.default_rng(scene.background_seed)
    margin_x = int(np.ceil(abs(scene.pan[0]) * scene.num_frames)) + 1
    margin_y = int(np.ceil(abs(scene.pan[1]) * scene.num_frames)) + 1
    height, width = scene.height + margin_y, scene.width + margin_x
    first = _texture(rng, str(rng.choice(BACKGROUND_KINDS)), height, width, scene.scale)
    if rng.random() < 0.4:
        second = _texture(rng, str(rng.choice(BACKGROUND_KINDS)), height, width, scene.scale)
        weight = rng.uniform(0.2, 0.8)
        first = weight * first + (1 - weight) * second
    _draw_clutter(rng, first, scene.scale)
    return first


def render_frame(scene: Scene, frame_idx: int, background: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """The frame as HxWx3 uint8 RGB, and each object's visible mask (HxW bool), in the order of `scene.objects`."""
    rng = np.random.default_rng((scene.background_seed, frame_idx))
    image = _pan_crop(scene, frame_idx, background).copy()
    full_masks = [np.zeros((scene.height, scene.width), dtype=bool) for _ in scene.objects]
    for index in sorted(range(len(scene.objects)), key=lambda i: scene.objects[i].depth):
        obj, pose = scene.objects[index], scene.poses[frame_idx][index]
        vertices = outline(obj.shape, pose.centre, pose.size, pose.angle, obj.distortion)
        _draw_object(image, full_masks[index], obj, vertices, scene.background_seed)
    visible_masks = _visible_parts(full_masks, [obj.depth for obj in scene.objects])
    return _apply_camera(scene, image, rng), visible_masks


def _pan_crop(scene: Scene, frame_idx: int, background: np.ndarray) -> np.ndarray:
    margin_y, margin_x = background.shape[0] - scene.height, background.shape[1] - scene.width
    x = _window_origin(scene.pan[0], frame_idx, margin_x)
    y = _window_origin(scene.pan[1], frame_idx, margin_y)
    return background[y : y + scene.height, x : x + scene.width]


def _window_origin(pan: float, frame_idx: int, margin: int) -> int:
    """Content drifting right (pan > 0) is a window moving left: it starts at the far end of the margin."""
    travel = abs(pan) * frame_idx
    origin = margin - 1 - travel if pan > 0 else travel
    return int(np.clip(round(origin), 0, margin - 1))


def _random_colours(rng: np.random.Generator, count: int) -> np.ndarray:
    """Background colours: any hue, but too grey to pass for a named colour (objects start at saturation 130)."""
    if count == 0:
        return np.zeros((0, 3), dtype=np.float32)
    hsv = np.stack([rng.integers(0, 180, count), rng.integers(0, 90, count), rng.integers(30, 231, count)], 1).astype(np.uint8)
    return cv2.cvtColor(hsv[None], cv2.COLOR_HSV2RGB)[0].astype(np.float32)


def _texture(rng: np.random.Generator, kind: str, height: int, width: int, scale: float) -> np.ndarray:
    """A float32 HxWx3 texture: a pattern in [0, 1] mapped between two or three background colours."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    along = xs * np.cos(angle) + ys * np.sin(angle)
    if kind == "noise":
        cell = rng.uniform(3, 40) * scale
        small = rng.random((max(2, int(height / cell)), max(2, int(width / cell)))).astype(np.float32)
        pattern = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    elif kind == "gradient":
        pattern = (along - along.min()) / max(float(np.ptp(along)), 1.0)
    elif kind == "stripes":
        period = rng.uniform(6, 60) * scale
        wave = 0.5 + 0.5 * np.sin(2 * np.pi * along / period)
        pattern = wave if rng.random() < 0.5 else (wave > rng.uniform(0.3, 0.7)).astype(np.float32)
    else:  # checker
        cell = rng.uniform(8, 50) * scale
        across = -xs * np.sin(angle) + ys * np.cos(angle)
        pattern = ((np.floor(along / cell) + np.floor(across / cell)) % 2).astype(np.float32)
    colours = _random_colours(rng, 3)
    pattern = np.clip(pattern, 0, 1)[..., None]
    if rng.random() < 0.5:
        return colours[0] * (1 - pattern) + colours[1] * pattern
    # Three colours: the pattern goes through a middle colour (more varied contrast).
    low, high = np.clip(2 * pattern, 0, 1), np.clip(2 * pattern - 1, 0, 1)
    return colours[0] * (1 - low) + colours[1] * (low - high) + colours[2] * high


def _draw_clutter(rng: np.random.Generator, canvas: np.ndarray, scale: float) -> None:
    """Thin grey lines and hollow outlines: edges and corners that are not objects."""
    height, width = canvas.shape[:2]
    for colour in _random_colours(rng, int(rng.integers(0, 8))):
        thickness = max(1, int(round(rng.uniform(1, 3) * scale)))
        if rng.random() < 0.5:
            start = (int(rng.integers(width)), int(rng.integers(height)))
            end = (int(rng.integers(width)), int(rng.integers(height)))
            cv2.line(canvas, start, end, colour.tolist(), thickness, cv2.LINE_AA)
        else:
            centre = (int(rng.integers(width)), int(rng.integers(height)))
            axes = tuple(int(a) for a in rng.uniform(5, 40, 2) * scale)
            cv2.ellipse(canvas, centre, axes, float(rng.uniform(0, 180)), 0, 360, colour.tolist(), thickness, cv2.LINE_AA)


def _draw_object(image: np.ndarray, full_mask: np.ndarray, obj: SceneObject, vertices: np.ndarray, texture_seed: int) -> None:
    height, width = full_mask.shape
    x0, y0 = np.floor(vertices.min(0)).astype(int) - 1
    x1, y1 = np.ceil(vertices.max(0)).astype(int) + 2
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if cx0 >= cx1 or cy0 >= cy1:
        return  # wholly outside the frame
    coverage = np.zeros((cy1 - cy0, cx1 - cx0), dtype=np.uint8)
    points = np.round((vertices - [cx0, cy0]) * (1 << _SUBPIXEL_BITS)).astype(np.int32)
    cv2.fillPoly(coverage, [points], 255, cv2.LINE_AA if obj.appearance.antialiased else cv2.LINE_8, _SUBPIXEL_BITS)
    mask = coverage >= 128
    full_mask[cy0:cy1, cx0:cx1] = mask
    colour = _shaded_colour(obj, mask, vertices - [cx0, cy0], texture_seed)
    alpha = (coverage.astype(np.float32) / 255.0)[..., None]
    region = image[cy0:cy1, cx0:cx1]
    region[:] = region * (1 - alpha) + colour * alpha


def _shaded_colour(obj: SceneObject, mask: np.ndarray, vertices: np.ndarray, texture_seed: int) -> np.ndarray:
    """The object's colour over its box, shaded: brightness only, so the hue stays the named one."""
    appearance = obj.appearance
    base = cv2.cvtColor(np.array([[appearance.hsv]], dtype=np.uint8), cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)
    height, width = mask.shape
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    centre = vertices.mean(0)
    radius = max(float(np.abs(vertices - centre).max()), 1.0)
    strength = appearance.shading_strength
    if appearance.shading == "linear":
        along = ((xs - centre[0]) * np.cos(appearance.shading_angle) + (ys - centre[1]) * np.sin(appearance.shading_angle)) / radius
        brightness = 1 + strength * np.clip(along, -1, 1)
    elif appearance.shading == "radial":
        light = centre + 0.4 * radius * np.array([np.cos(appearance.shading_angle), np.sin(appearance.shading_angle)])
        distance = np.hypot(xs - light[0], ys - light[1]) / radius
        brightness = 1 + strength * (1 - np.clip(distance, 0, 2))
    elif appearance.shading == "textured":
        small = np.random.default_rng((texture_seed, obj.obj_id)).random((6, 6)).astype(np.float32)
        brightness = 1 + strength * (2 * cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC) - 1)
    elif appearance.shading == "outlined":
        border = max(1, int(round(radius * 0.15)))
        inner = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=border).astype(bool)
        brightness = np.where(mask & ~inner, 1 - 1.5 * strength, 1.0)
    else:
        brightness = np.ones((height, width), dtype=np.float32)
    return np.clip(base * brightness[..., None], 0, 255)


def _visible_parts(full_masks: list[np.ndarray], depths: list[int]) -> list[np.ndarray]:
    """Each mask less every nearer object's: masks of one frame never overlap."""
    visible = [mask.copy() for mask in full_masks]
    covered = np.zeros_like(full_masks[0]) if full_masks else None
    for index in sorted(range(len(full_masks)), key=lambda i: -depths[i]):
        visible[index] &= ~covered
        covered |= full_masks[index]
    return visible


def _apply_camera(scene: Scene, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    camera = scene.camera
    image = image * np.asarray(camera.gain, dtype=np.float32) * np.float32(1 + rng.uniform(-camera.flicker, camera.flicker))
    gamma_table = (255.0 * (np.arange(256) / 255.0) ** camera.gamma).astype(np.uint8)
    image = cv2.LUT(np.clip(image, 0, 255).astype(np.uint8), gamma_table).astype(np.float32)
    if camera.blur_sigma > 0:
        image = cv2.GaussianBlur(image, (0, 0), camera.blur_sigma)
    if camera.noise_sigma > 0:
        image += np.float32(camera.noise_sigma) * rng.standard_normal(image.shape, dtype=np.float32)
    frame = np.clip(image, 0, 255).astype(np.uint8)
    if camera.jpeg_quality is not None:
        ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, camera.jpeg_quality])
        frame = cv2.cvtColor(cv2.imdecode(encoded, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return frame
