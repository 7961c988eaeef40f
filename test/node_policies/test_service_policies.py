"""Pure parts of the node's robustness policies: the state file, the request rate limit, the
exemplar-box check and the out-of-memory back-off (no ROS graph)."""

from __future__ import annotations

import os

import pytest

from sam3_ros.engine.prompt_registry import ExemplarBox, PromptError, PromptRequest, check_exemplars_inside
from sam3_ros.node.out_of_memory import ObjectCaps, OutOfMemoryBackoff, is_out_of_memory
from sam3_ros.node.prompt_state_file import (
    StateFileError,
    decode_prompt_state,
    encode_prompt_state,
    read_prompt_state,
    write_prompt_state,
)
from sam3_ros.node.request_rate_limit import RequestRateLimiter

# -- state file ------------------------------------------------------------------------------------


def test_state_file_round_trip_and_missing_file(tmp_path):
    path = tmp_path / "prompts.json"
    assert read_prompt_state(path) is None
    write_prompt_state(path, ["person", "tasse à café", "红杯子"])
    assert read_prompt_state(path) == ["person", "tasse à café", "红杯子"]
    write_prompt_state(path, [])
    assert read_prompt_state(path) == []
    assert os.listdir(tmp_path) == ["prompts.json"], "the temporary file must be renamed, never left behind"


@pytest.mark.parametrize(
    "content, phrase",
    [
        ("", "not valid JSON"),
        ('{"version": 1, "prompts": ["a"', "not valid JSON"),
        ('["person"]', "not an object"),
        ('{"version": 2, "prompts": []}', "version 2"),
        ('{"prompts": []}', "version None"),
        ('{"version": 1, "prompts": "person"}', "list of strings"),
        ('{"version": 1, "prompts": ["a", 3]}', "list of strings"),
    ],
)
def test_state_file_contents_that_are_refused(content, phrase):
    with pytest.raises(StateFileError, match=phrase):
        decode_prompt_state(content)


def test_unreadable_and_unwritable_state_files(tmp_path):
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(StateFileError, match="cannot read"):
        read_prompt_state(binary)
    with pytest.raises(StateFileError, match="cannot read"):
        read_prompt_state(tmp_path)  # a folder
    with pytest.raises(StateFileError, match="cannot write"):
        write_prompt_state(tmp_path / "no such folder" / "prompts.json", ["person"])


def test_encoded_state_is_what_decode_reads():
    assert decode_prompt_state(encode_prompt_state(("a", "b"))) == ["a", "b"]


# -- request rate limit ----------------------------------------------------------------------------


def test_rate_limit_allows_a_burst_then_the_rate():
    limiter = RequestRateLimiter(5.0, now=0.0)
    assert [limiter.allow(0.0) for _ in range(6)] == [True] * 5 + [False]
    assert limiter.allow(0.1) is False  # half a token
    assert limiter.allow(0.2) is True  # one token after 0.2 s at 5/s
    assert [limiter.allow(100.0) for _ in range(6)] == [True] * 5 + [False], "a long pause refills one second's worth only"


def test_rate_limit_zero_is_off_and_slow_rates_allow_one():
    assert all(RequestRateLimiter(0.0, 0.0).allow(0.0) for _ in range(1000))
    slow = RequestRateLimiter(0.5, now=0.0)
    assert [slow.allow(0.0), slow.allow(1.0), slow.allow(2.0)] == [True, False, True]


# -- exemplar boxes against the last frame ---------------------------------------------------------


def test_exemplar_boxes_must_lie_inside_the_last_frame():
    inside = PromptRequest("cup", (ExemplarBox(0, 0, 160, 68),))
    check_exemplars_inside([inside, PromptRequest("person")], 160, 68)
    for box in (ExemplarBox(0, 0, 161, 10), ExemplarBox(10, 10, 20, 69), ExemplarBox(4e9, 4e9, 8e9, 8e9)):
        with pytest.raises(PromptError, match="outside the image .160x68"):
            check_exemplars_inside([inside, PromptRequest("cup", (box,))], 160, 68)


# -- out of memory ---------------------------------------------------------------------------------


class OutOfMemoryError(RuntimeError):
    """Named like torch.OutOfMemoryError, which the policy recognises by name (it imports no torch)."""


@pytest.mark.parametrize(
    "error, expected",
    [
        (OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), True),
        (RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 432000000 bytes"), True),
        (MemoryError(), True),
        (RuntimeError("shape mismatch"), False),
        (ValueError("out of memory"), False),  # not an allocator error, whatever it says
    ],
)
def test_out_of_memory_is_recognised(error, expected):
    assert is_out_of_memory(error) is expected


def test_torch_errors_are_recognised():
    torch = pytest.importorskip("torch")
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory"))
    with pytest.raises(RuntimeError) as caught:
        torch.empty(2**62, dtype=torch.uint8)  # a real allocation failure of torch's CPU allocator
    assert is_out_of_memory(caught.value), caught.value


def test_a_streak_of_out_of_memory_frames_halves_the_caps_down_to_one():
    backoff = OutOfMemoryBackoff(streak=3)
    caps = ObjectCaps(total=5, per_prompt=3)
    assert [backoff.out_of_memory(caps) for _ in range(2)] == [None, None]
    backoff.frame_succeeded()  # the streak is broken: start counting again
    assert [backoff.out_of_memory(caps) for _ in range(2)] == [None, None]
    caps = backoff.out_of_memory(caps)
    assert caps == ObjectCaps(2, 1)
    for expected in (ObjectCaps(1, 1), None):  # at 1/1 there is nothing left to lower
        assert [backoff.out_of_memory(caps) for _ in range(2)] == [None, None]
        lowered = backoff.out_of_memory(caps)
        assert lowered == expected
        caps = lowered or caps
    assert backoff.total == 11
    with pytest.raises(ValueError):
        OutOfMemoryBackoff(0)
