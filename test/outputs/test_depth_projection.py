"""sam3_ros.outputs.depth_projection: mask -> depth pixels -> robust 3D position (pure unit tests, hand-computed)."""

from __future__ import annotations

import numpy as np
import pytest

from sam3_ros.outputs.depth_projection import (
    DepthSettings,
    PinholeIntrinsics,
    colour_pixel_of_point,
    colour_pixels_of_depth_grid,
    locate,
    mask_at_depth_resolution,
    near_reference_depth,
)

# fx = fy = 1, principal point at pixel (0, 0): a depth pixel (row i, column j) at depth z is the
# point (j * z, i * z, z), easy to compute by hand.
UNIT = PinholeIntrinsics(fx=1.0, fy=1.0, cx=0.0, cy=0.0)
ONE_PIXEL = DepthSettings(min_pixels=1)


def test_intrinsics_from_camera_matrix():
    k = [525.0, 0.0, 319.5, 0.0, 524.0, 239.5, 0.0, 0.0, 1.0]
    assert PinholeIntrinsics.from_k(k) == PinholeIntrinsics(fx=525.0, fy=524.0, cx=319.5, cy=239.5)


@pytest.mark.parametrize("k", [[0.0] * 9, [1.0] * 8, [500.0, 0, 320, 0, float("nan"), 240, 0, 0, 1]])
def test_unusable_camera_matrix_is_refused(k):
    with pytest.raises(ValueError):
        PinholeIntrinsics.from_k(k)


def test_depth_pixels_take_the_colour_pixel_under_their_centre():
    # Half resolution: depth pixel 0 covers colour pixels 0-1, its centre lies on colour pixel 1.
    rows, cols = colour_pixels_of_depth_grid((4, 6), (2, 3))
    assert rows.tolist() == [1, 3] and cols.tolist() == [1, 3, 5]
    # Double resolution: two depth pixels per colour pixel.
    rows, cols = colour_pixels_of_depth_grid((2, 3), (4, 6))
    assert rows.tolist() == [0, 0, 1, 1] and cols.tolist() == [0, 0, 1, 1, 2, 2]
    # Same size: the identity. A non-integer ratio (4 -> 3) still stays inside the image.
    rows, cols = colour_pixels_of_depth_grid((3, 4), (3, 3))
    assert rows.tolist() == [0, 1, 2] and cols.tolist() == [0, 2, 3]


def test_mask_at_depth_resolution():
    mask = np.zeros((4, 6), dtype=bool)
    mask[1, 1] = mask[3, 5] = True  # the centres of depth pixels (0, 0) and (1, 2)
    mask[0, 0] = True  # covered by depth pixel (0, 0) but not under its centre
    assert mask_at_depth_resolution(mask, (2, 3)).tolist() == [[True, False, False], [False, False, True]]


def test_near_reference_depth_is_the_kth_smallest_measurement():
    depths = np.array([5.0, 1.0, 4.0, 2.0, 3.0, 9.0, 8.0, 7.0, 6.0, 10.0, 11.0])  # n = 11
    assert near_reference_depth(depths, 10.0) == 2.0  # k = floor(0.1 * 10) = 1
    assert near_reference_depth(depths, 0.0) == 1.0
    assert near_reference_depth(depths, 100.0) == 11.0
    assert near_reference_depth(np.array([3.0]), 10.0) == 3.0


def test_plane_position_box_and_depth_by_hand():
    depth = np.full((3, 4), 2.0)
    mask = np.zeros((3, 4), dtype=bool)
    mask[1:3, 1:3] = True  # pixels (i, j) in {1, 2} x {1, 2}
    position = locate(mask, depth, UNIT, ONE_PIXEL)
    assert position.valid and position.pixels == 4
    assert position.depth == 2.0
    assert position.centroid == pytest.approx((3.0, 3.0, 2.0))  # mean of j*z = (2+2+4+4)/4
    assert position.box_min == pytest.approx((2.0, 2.0, 2.0))
    assert position.box_max == pytest.approx((4.0, 4.0, 2.0))


def test_principal_point_and_focal_length_are_applied():
    depth = np.full((5, 5), 4.0)
    mask = np.zeros((5, 5), dtype=bool)
    mask[4, 0] = True
    position = locate(mask, depth, PinholeIntrinsics(fx=2.0, fy=4.0, cx=2.0, cy=1.0), ONE_PIXEL)
    assert position.centroid == pytest.approx(((0 - 2.0) * 4.0 / 2.0, (4 - 1.0) * 4.0 / 4.0, 4.0))


def test_zero_nan_and_infinite_depths_are_ignored():
    depth = np.array([[0.0, np.nan, np.inf, -1.0, 3.0]])
    mask = np.ones((1, 5), dtype=bool)
    position = locate(mask, depth, UNIT, ONE_PIXEL)
    assert position.valid and position.pixels == 1
    assert position.centroid == pytest.approx((12.0, 0.0, 3.0))


def test_background_tail_is_rejected():
    """70 % of the mask on an object at 1.0 m, 30 % on the wall behind it at 3.0 m: only the object counts."""
    depth = np.full((10, 10), 3.0)
    depth[:, :7] = 1.0
    position = locate(np.ones((10, 10), dtype=bool), depth, UNIT, ONE_PIXEL)
    assert position.depth == 1.0 and position.pixels == 70
    assert position.box_max[2] == 1.0 and position.box_max[0] == pytest.approx(6.0)


def test_object_in_the_minority_of_its_mask_is_still_found():
    """A loose mask: 20 % object at 1.0 m, 80 % background at 3.0 m; the median alone would give 3.0 m."""
    depth = np.full((10, 10), 3.0)
    depth[:2, :] = 1.0
    position = locate(np.ones((10, 10), dtype=bool), depth, UNIT, ONE_PIXEL)
    assert position.depth == 1.0 and position.pixels == 20


def test_a_few_spurious_near_pixels_are_rejected():
    """5 % flying pixels at 0.3 m in front of an object at 2.0 m: below the 10th percentile, ignored."""
    depth = np.full((10, 10), 2.0)
    depth[0, :5] = 0.3
    position = locate(np.ones((10, 10), dtype=bool), depth, UNIT, ONE_PIXEL)
    assert position.depth == 2.0 and position.pixels == 95
    assert position.box_min[2] == 2.0


def test_object_depth_extent_within_the_band_is_kept():
    """A surface sloping from 1.0 to 1.25 m is one object: the band (0.3 m here) keeps all of it."""
    depth = np.tile(np.linspace(1.0, 1.25, 6), (4, 1))
    position = locate(np.ones((4, 6), dtype=bool), depth, UNIT, ONE_PIXEL)
    assert position.pixels == 24 and position.box_min[2] == 1.0 and position.box_max[2] == 1.25
    assert position.depth == pytest.approx(np.median(depth))


def test_band_grows_with_distance():
    """At 10 m the band is 0.15 * 10 = 1.5 m: depths 1.2 m apart (noise at that range) stay together."""
    depth = np.array([[10.0] * 5 + [11.2] * 5])
    position = locate(np.ones((1, 10), dtype=bool), depth, UNIT, ONE_PIXEL)
    assert position.pixels == 10


def test_too_few_pixels_give_no_position():
    depth = np.full((4, 4), 2.0)
    mask = np.zeros((4, 4), dtype=bool)
    mask[0, :3] = True
    position = locate(mask, depth, UNIT, DepthSettings(min_pixels=4))
    assert not position.valid and position.pixels == 3
    assert position.centroid == (0.0, 0.0, 0.0) and position.depth == 0.0
    assert locate(mask, depth, UNIT, DepthSettings(min_pixels=3)).valid


def test_no_valid_depth_under_the_mask():
    depth = np.zeros((4, 4))
    position = locate(np.ones((4, 4), dtype=bool), depth, UNIT)
    assert not position.valid and position.pixels == 0


def test_lower_resolution_depth_uses_each_depth_pixel_once():
    """Colour 4x4, depth 2x2 at 2 m: the mask's top-left quadrant covers depth pixel (0, 0) only."""
    mask = np.zeros((4, 4), dtype=bool)
    mask[:2, :2] = True
    position = locate(mask, np.full((2, 2), 2.0), UNIT, ONE_PIXEL)
    assert position.pixels == 1 and position.centroid == pytest.approx((0.0, 0.0, 2.0))


def test_same_scene_at_two_depth_resolutions_gives_the_same_position():
    """A registered depth camera at full and at half resolution (K scaled with it) sees the same object."""
    colour_mask = np.zeros((120, 160), dtype=bool)
    colour_mask[40:80, 60:120] = True
    full = PinholeIntrinsics(fx=140.0, fy=140.0, cx=79.5, cy=59.5)
    half = PinholeIntrinsics(fx=70.0, fy=70.0, cx=39.5, cy=29.5)  # K of the half-resolution image
    at_full = locate(colour_mask, np.full((120, 160), 1.5), full)
    at_half = locate(colour_mask, np.full((60, 80), 1.5), half)
    assert at_full.pixels == 4 * at_half.pixels
    assert at_half.centroid == pytest.approx(at_full.centroid, abs=1e-9)
    # The box shrinks by half a full-resolution pixel on each side: the half-resolution pixel centres.
    assert at_half.box_min[0] - at_full.box_min[0] == pytest.approx(0.5 * 1.5 / 140.0)


def test_invalid_settings_and_shapes_are_refused():
    with pytest.raises(ValueError, match="min_pixels"):
        DepthSettings(min_pixels=0)
    with pytest.raises(ValueError, match="near_percentile"):
        DepthSettings(near_percentile=101.0)
    with pytest.raises(ValueError, match="2D"):
        locate(np.ones((2, 2, 1), dtype=bool), np.ones((2, 2)), UNIT)


def test_a_clicked_point_lands_on_the_colour_pixel_its_depth_pixel_maps_to():
    # Depth pixel (row 2, column 3) at 2 m is the point (6, 4, 2) under UNIT; the colour image is
    # twice the depth image's size, so that depth pixel covers colour columns 6-7 and rows 4-5.
    x, y = colour_pixel_of_point((6.0, 4.0, 2.0), UNIT, depth_shape=(5, 8), colour_shape=(10, 16))

    assert (x, y) == (6.5, 4.5)
    rows, cols = colour_pixels_of_depth_grid((10, 16), (5, 8))
    assert (cols[3], rows[2]) == (7, 5)


@pytest.mark.parametrize("point", [(0.0, 0.0, 0.0), (1.0, 1.0, -1.0), (float("nan"), 0.0, 1.0)])
def test_a_point_not_in_front_of_the_camera_is_refused(point):
    with pytest.raises(ValueError, match="not in front of the depth camera"):
        colour_pixel_of_point(point, UNIT, (5, 8), (10, 16))
