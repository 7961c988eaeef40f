"""The node started from config/sam3.yaml tracks real footage: headers, ids, masks, boxes, prompt status,
and the label and debug images. One node for the module; each test runs alone or in any order."""

from __future__ import annotations

import numpy as np

from sam3_ros.outputs.mask_encoding import decode_mask

TRACKED_FRAMES = 10  # frames checked for stable ids after the tracks are confirmed


def check_instance_geometry(result) -> dict[int, np.ndarray]:
    """Masks decode at the image size and their boxes are exactly their bounding boxes; returns id -> mask."""
    masks = {}
    for instance in result.instances:
        mask = decode_mask(instance.mask_rle, result.height, result.width)
        assert mask.shape == (result.height, result.width)
        assert mask.any(), f"instance {instance.id} has an empty mask"
        box = instance.box
        assert box.width > 0 and box.height > 0, f"instance {instance.id} has an empty box {box}"
        assert box.x_offset + box.width <= result.width and box.y_offset + box.height <= result.height, box
        inside = np.zeros_like(mask)
        inside[box.y_offset : box.y_offset + box.height, box.x_offset : box.x_offset + box.width] = True
        assert not (mask & ~inside).any(), f"instance {instance.id}: mask pixels outside its box {box}"
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        assert (box.x_offset, box.y_offset) == (cols[0], rows[0]), f"box {box} is not tight around the mask"
        assert (box.x_offset + box.width, box.y_offset + box.height) == (cols[-1] + 1, rows[-1] + 1), box
        assert 0.0 <= instance.score <= 1.0, instance.score
        masks[instance.id] = mask
    return masks


def test_node_starts_from_params_file_with_remapping(client, sam3_node):
    """config/sam3.yaml via --ros-args --params-file, with `image` remapped: the node is up and configured."""
    graph = client.node
    subscribers = graph.get_subscriptions_info_by_topic(client.IMAGE_TOPIC)
    assert [(s.node_namespace, s.node_name) for s in subscribers] == [("/", "sam3")], subscribers
    assert [s.topic_type for s in subscribers] == ["sensor_msgs/msg/Image"]
    assert not graph.get_subscriptions_info_by_topic("/image"), "the image topic was not remapped"
    assert graph.get_publishers_info_by_topic(f"{client.NODE_NAME}/instances"), "no ~/instances publisher"
    assert f"ready on '{client.IMAGE_TOPIC}'" in sam3_node.log_text()

    # Every parameter of the file is declared by the node and holds the file's value, except those
    # overridden on the command line; a stale or misspelt key would read back as not set (None).
    values = client.get_parameters(sorted(client.CONFIG))
    overridden = {"model": "tiny-random", "prompts": list(client.START_PROMPTS)}  # -p after the params file
    assert values == {**client.CONFIG, **overridden}
    assert [p.text for p in client.get_prompts()] == list(client.START_PROMPTS)


def test_tracks_real_footage(fresh, footage):
    """From new tracks (the fixture `fresh`: the start prompts set again, no results kept)."""
    client = fresh
    CONFIRM_FRAMES, START_PROMPTS = client.CONFIRM_FRAMES, client.START_PROMPTS
    results = []
    for frame in footage[: CONFIRM_FRAMES + TRACKED_FRAMES]:
        image, result = client.process(frame)
        # the header and size of the source image
        assert result.header.stamp == image.header.stamp
        assert result.header.frame_id == client.FRAME_ID
        assert (result.width, result.height) == (client.FRAME_WIDTH, client.FRAME_HEIGHT)
        results.append(result)
    # every InstanceArray the node published, one per frame, in order
    assert [r.header.stamp for r in client.results] == [r.header.stamp for r in results]

    prompt_ids = {}
    for result in results:
        assert [p.text for p in result.prompts] == list(START_PROMPTS)
        for status in result.prompts:
            assert 0.0 <= status.presence_score <= 1.0, status
            assert status.instance_count == sum(1 for i in result.instances if i.prompt_id == status.id), result
            assert prompt_ids.setdefault(status.text, status.id) == status.id, "a prompt id changed"
    assert len(set(prompt_ids.values())) == len(START_PROMPTS), prompt_ids

    # A new track is published only once it was seen on confirm_frames consecutive frames.
    for result in results[: CONFIRM_FRAMES - 1]:
        assert not result.instances, f"instances before {CONFIRM_FRAMES} frames: {result.instances}"
    confirmed = results[CONFIRM_FRAMES - 1 :]
    first = confirmed[0]
    # The tiny model finds exactly one object per prompt.
    assert sorted(i.prompt_text for i in first.instances) == sorted(START_PROMPTS), first.instances
    ids = {i.prompt_id: i.id for i in first.instances}
    assert all(track_id > 0 for track_id in ids.values())
    assert len(set(ids.values())) == len(ids), f"track ids not unique across prompts: {ids}"
    assert set(ids) == set(prompt_ids.values())

    previous_frames_tracked = None
    for result in confirmed:
        assert {i.prompt_id: i.id for i in result.instances} == ids, "track ids changed"
        for instance in result.instances:
            assert instance.prompt_text == next(p.text for p in result.prompts if p.id == instance.prompt_id)
        check_instance_geometry(result)
        frames_tracked = {i.id: i.frames_tracked for i in result.instances}
        if previous_frames_tracked is not None:
            assert frames_tracked == {k: v + 1 for k, v in previous_frames_tracked.items()}, "frames_tracked must count frames"
        previous_frames_tracked = frames_tracked


def test_label_and_debug_images(client, footage):
    """~/label_image (16UC1 track ids) and ~/debug_image (rgb8) come with the source header and size."""
    client.subscribe_output_images()
    # Either image goes out only once the node has matched our subscription, and the label image is
    # only interesting with confirmed tracks: go on until a frame has both images and instances.
    attempts = footage[-(client.CONFIRM_FRAMES + 4) :]
    for frame in attempts:
        image, result = client.process(frame)
        key = (image.header.stamp.sec, image.header.stamp.nanosec)
        both = lambda key=key: key in client.label_images and key in client.debug_images  # noqa: E731
        if client.spin_until(both, 10.0, "label and debug images", fail=False) and result.instances:
            break
    else:
        raise AssertionError(
            f"none of {len(attempts)} frames gave instances and both a label and a debug image "
            f"(label stamps {sorted(client.label_images)}, debug stamps {sorted(client.debug_images)}): "
            f"{client.node_process.describe()}"
        )
    label, debug = client.label_images[key], client.debug_images[key]

    for output, encoding, bytes_per_pixel in ((label, "16UC1", 2), (debug, "rgb8", 3)):
        assert output.header.stamp == image.header.stamp
        assert output.header.frame_id == client.FRAME_ID
        assert (output.width, output.height) == (image.width, image.height)
        assert output.encoding == encoding
        assert output.is_bigendian == 0
        assert output.step >= output.width * bytes_per_pixel
        assert len(output.data) == output.step * output.height

    rows = np.frombuffer(bytes(label.data), dtype="<u2").reshape(label.height, label.step // 2)
    labels = rows[:, : label.width]
    masks = {i.id: decode_mask(i.mask_rle, result.height, result.width) for i in result.instances}
    scores = {i.id: i.score for i in result.instances}
    coverage = np.sum(list(masks.values()), axis=0)
    wrong = int((labels[coverage == 0] != 0).sum())
    assert wrong == 0, f"{wrong} label pixels outside every mask are not 0"
    for track_id, mask in masks.items():
        alone = mask & (coverage == 1)
        wrong = int((labels[alone] != track_id).sum())
        assert wrong == 0, f"{wrong} of {int(alone.sum())} pixels covered by instance {track_id} alone do not hold its id"
    # Where masks (of different prompts) overlap, the highest-scoring instance wins.
    for y, x in zip(*np.nonzero(coverage > 1)):
        owners = [tid for tid, mask in masks.items() if mask[y, x]]
        label_id = int(labels[y, x])
        assert label_id in owners, f"pixel ({x}, {y}) holds {label_id}, not one of its instances {owners}"
        assert scores[label_id] == max(scores[tid] for tid in owners), f"pixel ({x}, {y}): not the best-scoring instance"

    rgb = np.frombuffer(bytes(debug.data), dtype=np.uint8).reshape(debug.height, debug.step)[:, : debug.width * 3]
    assert rgb.reshape(debug.height, debug.width, 3).std() > 0, "the debug overlay is blank"
