"""The vision-backbone backends: the switch, the fallbacks and their one log line, and equal results."""

import importlib.util
import logging
import time

import pytest
import torch

from sam3_ros.engine import tensorrt_vision
from sam3_ros.engine.model_loading import load_sam3
from sam3_ros.engine.tiny_model import build_tiny_sam3
from sam3_ros.engine.vision_backends import (
    FEATURE_TOLERANCE,
    apply_vision_backend,
    compare_vision_features,
    features_match,
    sample_input,
)


def sam3_records(caplog):
    return [record for record in caplog.records if record.name == "sam3_ros"]


def test_unknown_backend_is_a_clear_value_error():
    model, _ = build_tiny_sam3()
    with pytest.raises(ValueError, match="unknown vision backend 'onnx'.*pytorch, compile, tensorrt"):
        apply_vision_backend(model, "onnx")
    with pytest.raises(ValueError, match="unknown vision backend"):
        load_sam3("tiny-random", device="cpu", vision_backend="TensorRT")


def test_tensorrt_falls_back_to_pytorch_with_one_log_line_and_same_results(caplog, small_frames, tracks, same_tracks):
    with caplog.at_level(logging.DEBUG, logger="sam3_ros"):
        model, tokenizer = load_sam3("tiny-random", device="cpu", vision_backend="tensorrt")
    records = sam3_records(caplog)
    assert len(records) == 1, [r.getMessage() for r in records]
    assert records[0].levelno == logging.WARNING
    assert "'tensorrt' is not used, running PyTorch instead" in records[0].getMessage()
    assert "CUDA GPU" in records[0].getMessage()  # the reason on this machine
    assert model.vision_backend == "pytorch"
    reference, _ = load_sam3("tiny-random", device="cpu")
    same_tracks(tracks(reference, tokenizer, small_frames), tracks(model, tokenizer, small_frames))


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="tensorrt is installed here")
def test_without_tensorrt_the_reason_says_what_to_install():
    reason = tensorrt_vision.unavailable_reason(torch.device("cuda"))
    assert "tensorrt" in reason and "pip install tensorrt-cu12" in reason


def test_compare_vision_features_measures_relative_error():
    model, _ = build_tiny_sam3()
    encoder = model.detector_model.vision_encoder
    with torch.inference_mode():
        features = encoder(sample_input(model.config.image_size, "cpu", torch.float32))
        same = compare_vision_features(features, features)
        assert [d.name for d in same] == ["last_hidden_state", "fpn_0", "fpn_1", "fpn_2", "fpn_3"]
        assert all(d.max_abs == 0 and d.relative_rms == 0 for d in same) and features_match(same)
        noisy = type(features)(
            last_hidden_state=features.last_hidden_state,
            fpn_hidden_states=tuple(f + 0.1 * f.std() * torch.randn_like(f) for f in features.fpn_hidden_states),
            fpn_position_encoding=features.fpn_position_encoding,
        )
        differences = compare_vision_features(features, noisy)
    assert differences[0].relative_rms == 0
    assert all(0.05 < d.relative_rms < 0.2 for d in differences[1:])
    assert not features_match(differences)


class FakeEngine:
    """Stands in for a TensorRT engine: PyTorch's own encoder, optionally with its features spoilt."""

    def __init__(self, encoder, spoil=False):
        self._forward = encoder.forward  # the class's method, bound before the backend replaces it
        self._spoil = spoil
        self.path = "fake.engine"

    def __call__(self, pixel_values, **kwargs):
        features = self._forward(pixel_values)
        if self._spoil:
            features.last_hidden_state = features.last_hidden_state.flip(-1)  # e.g. channels out of order
        return features


@pytest.mark.parametrize("spoil", [False, True])
def test_tensorrt_engine_is_used_only_when_its_features_match(monkeypatch, caplog, small_frames, tracks, same_tracks, spoil):
    """The checks and the swap around a TensorRT engine, with a fake engine (no GPU here)."""
    model, tokenizer = build_tiny_sam3()
    reference = tracks(model, tokenizer, small_frames)
    monkeypatch.setattr(tensorrt_vision, "unavailable_reason", lambda device: None)
    monkeypatch.setattr(tensorrt_vision, "load_or_build", lambda encoder, *args: FakeEngine(encoder, spoil))
    with caplog.at_level(logging.DEBUG, logger="sam3_ros"):
        in_use = apply_vision_backend(model, "tensorrt")
    records = sam3_records(caplog)
    assert len(records) == 1
    if spoil:
        assert in_use == "pytorch" and "features differ from PyTorch's: last_hidden_state" in records[0].getMessage()
        assert "forward" not in vars(model.detector_model.vision_encoder)
    else:
        assert in_use == "tensorrt" and "features match PyTorch" in records[0].getMessage()
        assert isinstance(vars(model.detector_model.vision_encoder)["forward"], FakeEngine)
    same_tracks(reference, tracks(model, tokenizer, small_frames))
    assert apply_vision_backend(model, "pytorch") == "pytorch"
    assert "forward" not in vars(model.detector_model.vision_encoder)


def test_a_failing_tensorrt_build_falls_back_with_the_error(monkeypatch, caplog):
    def fail(*args):
        raise tensorrt_vision.TensorRTBuildError("TensorRT's ONNX parser rejected the exported encoder: op X")

    model, _ = build_tiny_sam3()
    monkeypatch.setattr(tensorrt_vision, "unavailable_reason", lambda device: None)
    monkeypatch.setattr(tensorrt_vision, "load_or_build", fail)
    with caplog.at_level(logging.DEBUG, logger="sam3_ros"):
        assert apply_vision_backend(model, "tensorrt") == "pytorch"
    (record,) = sam3_records(caplog)
    assert "ONNX parser rejected the exported encoder: op X" in record.getMessage()


ONNX_TOOLS = all(importlib.util.find_spec(name) for name in ("onnx", "onnxscript", "onnxruntime"))


@pytest.mark.skipif(not ONNX_TOOLS, reason="onnx, onnxscript and onnxruntime are needed to check the export")
def test_the_onnx_export_tensorrt_builds_from_computes_the_same_features(tmp_path):
    """The first half of the TensorRT path, checked on the CPU with onnxruntime instead of TensorRT."""
    import onnxruntime

    model, _ = build_tiny_sam3()
    encoder = model.detector_model.vision_encoder
    frame = sample_input(model.config.image_size, "cpu", torch.float32)
    path = tmp_path / "vision_encoder.onnx"
    tensorrt_vision.export_onnx(encoder, frame, path)
    session = onnxruntime.InferenceSession(str(path))
    assert [o.name for o in session.get_outputs()] == tensorrt_vision.output_names(encoder)
    last_hidden_state, *fpn = (torch.from_numpy(a) for a in session.run(None, {"pixel_values": frame.numpy()}))
    with torch.inference_mode():
        reference = encoder(frame)
    exported = type(reference)(last_hidden_state=last_hidden_state, fpn_hidden_states=tuple(fpn))
    differences = compare_vision_features(reference, exported)
    assert all(d.relative_rms < 1e-4 for d in differences), differences
    assert FEATURE_TOLERANCE > 1e-4


def test_weights_fingerprint_tells_weights_apart():
    first, _ = build_tiny_sam3(seed=0)
    again, _ = build_tiny_sam3(seed=0)
    other, _ = build_tiny_sam3(seed=1)
    fingerprint = tensorrt_vision.weights_fingerprint
    encoders = [m.detector_model.vision_encoder for m in (first, again, other)]
    assert fingerprint(encoders[0]) == fingerprint(encoders[1]) != fingerprint(encoders[2])


def test_compile_gives_the_same_results_as_pytorch(caplog, small_frames, tracks, same_tracks):
    """torch.compile of the vision encoder on the CPU (inductor; about 40 s cold, 6 s with its cache)."""
    model, tokenizer = build_tiny_sam3()
    reference = tracks(model, tokenizer, small_frames)
    started = time.monotonic()
    with caplog.at_level(logging.DEBUG, logger="sam3_ros"):
        in_use = apply_vision_backend(model, "compile")
    if in_use != "compile":
        pytest.skip(f"torch.compile is not usable here: {sam3_records(caplog)[0].getMessage()}")
    compile_seconds = time.monotonic() - started
    # compiled at start-up: the first tracked frame is as fast as any other, not seconds slower
    started = time.monotonic()
    compiled = tracks(model, tokenizer, small_frames)
    assert time.monotonic() - started < max(5.0, compile_seconds / 4)
    same_tracks(reference, compiled, score_tolerance=1e-4, pixel_tolerance=1e-3)
    assert not sam3_records(caplog)
