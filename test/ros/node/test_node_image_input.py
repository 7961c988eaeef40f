"""Every supported encoding gives a result; a malformed image is skipped with a clear warning, and the
node carries on (services answer, the next valid frame is processed)."""

from __future__ import annotations

import numpy as np
import pytest

from sam3_ros.outputs.mask_encoding import decode_mask

# The node throttles its "skipping image" warning to one per 5 s (one call site for all causes).
WARNING_TIMEOUT_S = 30.0


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "mono8", "bgra8", "rgba8", "8UC3"])
def test_supported_encoding_gives_result(client, footage, encoding):
    image, result = client.process(footage[0], encoding=encoding)
    assert result.header.stamp == image.header.stamp
    assert result.header.frame_id == image.header.frame_id
    assert (result.width, result.height) == (image.width, image.height)
    for instance in result.instances:
        assert decode_mask(instance.mask_rle, result.height, result.width).shape == (image.height, image.width)


def test_padded_rows_and_a_new_image_size(client, footage):
    """Row padding (step > width*channels) is accepted, and the size may change from one frame to the next."""
    frame = np.ascontiguousarray(footage[1][:51, :120])
    for encoding, padding in (("rgb8", 8), ("mono8", 3)):
        image, result = client.process(frame, encoding=encoding, padding=padding)
        assert image.step > image.width * (3 if encoding == "rgb8" else 1)
        assert (result.width, result.height) == (120, 51)
        for instance in result.instances:
            assert decode_mask(instance.mask_rle, 51, 120).any()
            assert instance.box.x_offset + instance.box.width <= 120 and instance.box.y_offset + instance.box.height <= 51
    _, result = client.process(footage[2])
    assert (result.width, result.height) == (client.FRAME_WIDTH, client.FRAME_HEIGHT)


def _unknown_encoding(client, frame):
    msg = client.make_image(frame)
    msg.encoding = "32FC1"
    return msg


def _data_length_mismatch(client, frame):
    msg = client.make_image(frame)
    msg.data = bytes(msg.data)[: -msg.step // 2]
    return msg


def _zero_size(client, frame):
    msg = client.make_image(frame)
    msg.width = msg.height = msg.step = 0
    msg.data = b""
    return msg


def _step_too_small(client, frame):
    msg = client.make_image(frame)
    msg.step = msg.width * 3 - 3
    msg.data = bytes(msg.data)[: msg.step * msg.height]
    return msg


def _one_pixel(client, frame):
    return client.make_image(np.ascontiguousarray(frame[:1, :1]))


# (name, make the message, the phrases its warning must contain)
BAD_IMAGES = [
    ("unknown encoding", _unknown_encoding, lambda m: ["unsupported image encoding '32FC1'", "supported: rgb8"]),
    ("data length", _data_length_mismatch, lambda m: [f"data has {len(m.data)} bytes but step*height = {m.step}*{m.height}"]),
    ("zero size", _zero_size, lambda m: ["image is 0x0: nothing to process"]),
    ("step too small", _step_too_small, lambda m: [f"step {m.step} is smaller than width*channels = {m.width * 3} for rgb8"]),
    ("1x1 image", _one_pixel, lambda m: ["frame is 1x1", "at least 2x2"]),
]


@pytest.mark.parametrize("make_bad, phrases", [case[1:] for case in BAD_IMAGES], ids=[case[0] for case in BAD_IMAGES])
def test_bad_image_is_skipped_with_a_warning(client, sam3_node, footage, make_bad, phrases):
    # The node lets one warning through its throttle per 5 s, whatever the cause: send the bad image
    # again (one per spin) until the node warns about it.
    log_start = len(sam3_node.log_text())
    sent = []

    # The warning says what is wrong. Waiting for it also proves the node took a bad frame before
    # the valid one below, which would otherwise replace it unseen (the node keeps the newest only).
    def warned():
        new = sam3_node.log_text()[log_start:]
        if "skipping image" in new:
            return new
        bad = make_bad(client, footage[3])
        bad.header.stamp = client.next_stamp()
        client.publish(bad)
        sent.append(bad)
        return None

    log = client.spin_until(warned, WARNING_TIMEOUT_S, "the node's warning about the bad image")
    warning = next(line for line in log.splitlines() if "skipping image" in line)
    assert "WARN" in warning, warning
    for phrase in phrases(sent[-1]):
        assert phrase in warning, f"the warning {warning!r} does not say {phrase!r}"

    # The node is alive, answers services and processes the next valid frame; the bad ones got no result.
    assert [p.text for p in client.get_prompts()] == list(client.START_PROMPTS)
    image, result = client.process(footage[4])
    assert (result.width, result.height) == (image.width, image.height)
    assert [client.result_for(bad.header.stamp) for bad in sent] == [None] * len(sent), "an InstanceArray was published for a bad image"
    assert sam3_node.alive()
