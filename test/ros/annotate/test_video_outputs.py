"""sam3-ros-annotate on real footage (bikes.mp4), its outputs read back with independent libraries."""

import json
from pathlib import Path

import cv2
import numpy as np
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
from pycocotools import mask as coco_mask
from rosbags.highlevel import AnyReader
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

REPO = Path(__file__).resolve().parents[3]


def _vis(output: Path) -> dict:
    return json.loads((output / "annotations.json").read_text())


def test_vis_json_has_a_category_per_prompt_and_a_track_per_annotation(bikes_run, bikes_expected):
    vis = _vis(bikes_run)
    assert [c["name"] for c in vis["categories"]] == list(bikes_expected.prompts)
    (video,) = vis["videos"]
    assert (video["width"], video["height"], video["length"]) == (bikes_expected.width, bikes_expected.height, bikes_expected.frames)
    assert video["timestamps_ns"] == bikes_expected.stamps_ns
    assert len(video["file_names"]) == bikes_expected.frames
    annotations = vis["annotations"]
    assert annotations, "the tiny model finds one object per prompt: there must be tracks"
    assert len({a["track_id"] for a in annotations}) == len(annotations)
    assert {a["category_id"] for a in annotations} == {c["id"] for c in vis["categories"]}
    for annotation in annotations:
        assert annotation["video_id"] == video["id"]
        assert 0.0 <= annotation["score"] <= 1.0
        for key in ("segmentations", "bboxes", "areas"):
            assert len(annotation[key]) == bikes_expected.frames, key


def test_pycocotools_decodes_every_segmentation_to_the_frame_size(bikes_run, bikes_expected):
    decoded = 0
    for annotation in _vis(bikes_run)["annotations"]:
        for rle, box, area in zip(annotation["segmentations"], annotation["bboxes"], annotation["areas"]):
            assert (rle is None) == (box is None) == (area is None)
            if rle is None:
                continue
            mask = coco_mask.decode(rle)  # the JSON's own form: counts as a string
            assert mask.shape == (bikes_expected.height, bikes_expected.width)
            assert int(mask.sum()) == int(coco_mask.area(rle)) == area > 0
            ys, xs = np.nonzero(mask)
            assert box == [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]
            assert box == coco_mask.toBbox(rle).tolist()
            decoded += 1
    assert decoded > 0


def test_rosbags_reads_one_message_per_frame_stamped_as_the_source(bikes_run, bikes_expected):
    vis = _vis(bikes_run)
    tracks_per_frame = [
        sorted(a["track_id"] for a in vis["annotations"] if a["segmentations"][frame] is not None) for frame in range(bikes_expected.frames)
    ]
    with AnyReader([bikes_run / "instances.mcap"]) as reader:
        assert list(reader.topics) == ["/sam3/instances"]
        messages = [(log_time, reader.deserialize(raw, c.msgtype)) for c, log_time, raw in reader.messages()]
    assert len(messages) == bikes_expected.frames
    for frame, (log_time, msg) in enumerate(messages):
        assert msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec == log_time == bikes_expected.stamps_ns[frame]
        assert (msg.width, msg.height) == (bikes_expected.width, bikes_expected.height)
        assert sorted(instance.id for instance in msg.instances) == tracks_per_frame[frame]
        assert [p.text for p in msg.prompts] == list(bikes_expected.prompts)


def test_mcap_decodes_with_mcap_ros2_and_with_types_from_the_msg_files(bikes_run, bikes_expected):
    # The repo's own .msg files, registered by hand: the schema stored in the file is not trusted.
    typestore = get_typestore(Stores.ROS2_KILTED)
    for path in sorted((REPO / "msg").glob("*.msg")):
        typestore.register(get_types_from_msg(path.read_text(), f"sam3_ros/msg/{path.stem}"))
    with (bikes_run / "instances.mcap").open("rb") as file:
        decoded = list(make_reader(file, decoder_factories=[DecoderFactory()]).iter_decoded_messages())
    assert len(decoded) == bikes_expected.frames
    seen = 0
    for schema, channel, message, ros_msg in decoded:
        assert (schema.name, schema.encoding, channel.topic) == ("sam3_ros/msg/InstanceArray", "ros2msg", "/sam3/instances")
        stamp = ros_msg.header.stamp.sec * 1_000_000_000 + ros_msg.header.stamp.nanosec
        assert message.log_time == stamp
        by_typestore = typestore.deserialize_cdr(message.data, "sam3_ros/msg/InstanceArray")
        assert [i.id for i in by_typestore.instances] == [i.id for i in ros_msg.instances]
        for ours, theirs in zip(by_typestore.instances, ros_msg.instances):
            mask = np.repeat(np.arange(len(ours.mask_rle)) % 2 == 1, ours.mask_rle)
            assert mask.size == ros_msg.width * ros_msg.height
            assert list(ours.mask_rle) == list(theirs.mask_rle)
            assert (ours.box.width, ours.box.height) == (theirs.box.width, theirs.box.height)
            seen += 1
    assert seen > 0


def test_mp4_has_every_frame(bikes_run, bikes_expected):
    capture = cv2.VideoCapture(str(bikes_run / "annotated.mp4"))
    assert capture.isOpened()
    frames = 0
    while capture.read()[0]:
        frames += 1
    size = (capture.get(cv2.CAP_PROP_FRAME_WIDTH), capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    capture.release()
    assert frames == bikes_expected.frames
    assert size == (bikes_expected.width, bikes_expected.height)


def test_a_finished_run_leaves_only_its_outputs(bikes_run):
    assert sorted(path.name for path in bikes_run.iterdir()) == ["annotated.mp4", "annotations.json", "instances.mcap"]
