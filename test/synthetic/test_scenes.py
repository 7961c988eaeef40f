"""The synthetic scene generator: deterministic, with masks and prompts that mean what they say."""

import json

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from sam3_ros.synthetic import generate_sequence, ids_matching_prompt, parse_prompt
from sam3_ros.synthetic.ground_truth_writers import VisVideo, write_mot_gt, write_mot_seqinfo, write_youtube_vis
from sam3_ros.synthetic.vocabulary import category_names

# pycocotools' own decode trips numpy 2's __array__ deprecation; nothing this package can change.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def test_a_seed_gives_the_same_frames_and_ground_truth_in_any_order():
    first, second = generate_sequence(7, num_frames=12), generate_sequence(7, num_frames=12)
    image_late, truth_late = first.frame(9)
    for index in range(12):
        second.frame(index)
    image_again, truth_again = second.frame(9)
    assert np.array_equal(image_late, image_again)
    assert [o.obj_id for o in truth_late.objects] == [o.obj_id for o in truth_again.objects]
    assert all(np.array_equal(a.mask, b.mask) for a, b in zip(truth_late.objects, truth_again.objects))
    assert not np.array_equal(generate_sequence(8, num_frames=12).frame(9)[0], image_late)


def test_masks_are_disjoint_visible_parts_and_identities_are_stable():
    occlusions = 0
    for seed in range(4):
        sequence = generate_sequence(seed, num_frames=12)
        categories = {}
        for _, truth in sequence:
            union = np.zeros((sequence.height, sequence.width), dtype=np.int32)
            for obj in truth.objects:
                assert obj.mask.any() and obj.mask.shape == (240, 320)
                union += obj.mask
                assert categories.setdefault(obj.obj_id, obj.category) == obj.category  # an id keeps its colour and shape
                occlusions += obj.visibility < 0.9
                x0, y0, x1, y1 = obj.visible_box
                ax0, ay0, ax1, ay1 = obj.amodal_box
                assert ax0 - 1 <= x0 and ay0 - 1 <= y0 and x1 <= ax1 + 2 and y1 <= ay1 + 2
            assert union.max() <= 1  # a pixel belongs to at most one object: the front one
    assert occlusions > 0  # the seeds above do have objects partly hidden or leaving the frame


def test_prompt_phrases_select_the_right_ids():
    sequence = generate_sequence(3)
    objects = sequence.scene.objects
    for obj in objects:
        if obj.shape in ("circle", "square", "triangle"):
            assert obj.obj_id in ids_matching_prompt(objects, f"{obj.colour} {obj.shape}")
            assert obj.obj_id in ids_matching_prompt(objects, obj.shape)
    every_triangle = {o.obj_id for o in objects if o.shape == "triangle"}
    assert ids_matching_prompt(objects, "Triangle") == every_triangle
    assert ids_matching_prompt(objects, "red circle") == {o.obj_id for o in objects if (o.colour, o.shape) == ("red", "circle")}
    assert parse_prompt("blue square").colour == "blue"
    with pytest.raises(ValueError):
        ids_matching_prompt(objects, "red cross")  # rendered as a distractor, never promptable


@pytest.mark.parametrize("size", [(64, 48), (320, 240), (200, 400), (640, 480)])
def test_any_frame_size_works_and_scales_the_objects(size):
    width, height = size
    sequence = generate_sequence(11, width, height, num_frames=3)
    image, truth = sequence.frame(2)
    assert image.shape == (height, width, 3) and image.dtype == np.uint8
    sizes = [obj.size / min(width, height) for obj in sequence.scene.objects]
    assert all(20 / 240 <= s <= 60 / 240 for s in sizes)
    assert all(obj.mask.shape == (height, width) for obj in truth.objects)


def test_writers_produce_files_that_the_readers_read_back(tmp_path):
    sequence = generate_sequence(5, num_frames=8)
    frames = [truth for _, truth in sequence]
    write_mot_gt(tmp_path / "seq" / "gt" / "gt.txt", frames)
    write_mot_seqinfo(tmp_path / "seq" / "seqinfo.ini", "seq", 320, 240, len(frames))
    rows = np.loadtxt(tmp_path / "seq" / "gt" / "gt.txt", delimiter=",", ndmin=2)
    assert len(rows) == sum(len(f.objects) for f in frames)
    assert set(rows[:, 0].astype(int)) <= set(range(1, 9)) and rows[:, 6].min() == 1
    assert {int(c) for c in rows[:, 7]} <= set(range(1, len(category_names()) + 1))
    assert "seqLength=8" in (tmp_path / "seq" / "seqinfo.ini").read_text()

    write_youtube_vis(tmp_path / "vis.json", [VisVideo("seq", 320, 240, frames)])
    dataset = json.loads((tmp_path / "vis.json").read_text())
    assert dataset["videos"][0]["length"] == 8 and len(dataset["videos"][0]["file_names"]) == 8
    truth_by_id = {obj.obj_id: obj for obj in frames[3].objects}
    for annotation in dataset["annotations"]:
        rle = annotation["segmentations"][3]
        obj_id = annotation["synthetic_obj_id"]
        assert (rle is None) == (obj_id not in truth_by_id)
        if rle is not None:
            decoded = mask_utils.decode({"size": rle["size"], "counts": rle["counts"].encode()})
            assert np.array_equal(decoded.astype(bool), truth_by_id[obj_id].mask)
            assert annotation["areas"][3] == int(mask_utils.area({"size": rle["size"], "counts": rle["counts"].encode()}))
