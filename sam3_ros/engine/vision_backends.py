"""Which implementation runs SAM 3's vision backbone: PyTorch, torch.compile or a TensorRT engine.

The vision encoder (`model.detector_model.vision_encoder`, a ViT and its FPN neck) runs once per
frame and is the largest single cost of a frame. `apply_vision_backend` swaps its implementation
in place, keeping the module, its weights and its state_dict keys, so everything else (the engine,
checkpoints, tests that copy weights) is untouched. A backend that cannot be used here falls back
to PyTorch with one log line on the "sam3_ros" logger saying why and what to install; the return
value, also stored as `model.vision_backend`, says which backend is in use.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from sam3_ros.engine import tensorrt_vision  # imports TensorRT itself only when an engine is built or loaded

logger = logging.getLogger("sam3_ros")

VISION_BACKENDS = ("pytorch", "compile", "tensorrt")
DEFAULT_TENSORRT_CACHE = Path("~/.cache/sam3_ros/tensorrt")
# A swapped-in backbone must give the same features as PyTorch: the RMS of the difference, relative
# to the standard deviation of PyTorch's features, must stay below this for every output. bf16 has
# an 8-bit mantissa (0.4 % relative rounding per operation), so two correct bf16/fp16
# implementations of a 32-layer ViT differ by well under 1 %; 2 % leaves room for that and still
# catches a wrong graph (wrong output order, missing op, overflow), which gives O(1) differences.
FEATURE_TOLERANCE = 2e-2


class VisionBackendUnavailable(RuntimeError):
    """A backend cannot run here; the message says why and what to install."""


@dataclass(frozen=True)
class FeatureDifference:
    """How far one output of the vision encoder is from the reference."""

    name: str
    max_abs: float
    rms: float
    reference_std: float

    @property
    def relative_rms(self) -> float:
        return _relative(self.rms, self.reference_std)

    @property
    def relative_max(self) -> float:
        return _relative(self.max_abs, self.reference_std)


def _relative(value: float, scale: float) -> float:
    if scale > 0:
        return value / scale
    return math.inf if value > 0 else 0.0


def vision_feature_tensors(features) -> dict[str, torch.Tensor]:
    """The tensors that the detector and tracker read from a vision encoder output, by name."""
    tensors = {"last_hidden_state": features.last_hidden_state}
    for level, fpn in enumerate(features.fpn_hidden_states):
        tensors[f"fpn_{level}"] = fpn
    return tensors


def compare_vision_features(model_a_features, model_b_features) -> list[FeatureDifference]:
    """Per output, the difference of `model_b_features` from the reference `model_a_features`.

    Both are vision encoder outputs (`Sam3VisionEncoderOutput`: last_hidden_state and the FPN
    levels). Statistics are computed in float32 on the device and fetched in one transfer.
    """
    reference, other = vision_feature_tensors(model_a_features), vision_feature_tensors(model_b_features)
    if reference.keys() != other.keys():
        raise ValueError(f"the outputs differ in structure: {sorted(reference)} vs {sorted(other)}")
    stats = []
    for name, ref in reference.items():
        if ref.shape != other[name].shape:
            raise ValueError(f"{name}: shape {tuple(other[name].shape)} differs from the reference's {tuple(ref.shape)}")
        ref32 = ref.float()
        diff = other[name].float().to(ref.device) - ref32
        stats.append(torch.stack([diff.abs().max(), diff.square().mean().sqrt(), ref32.std()]))
    values = torch.stack(stats).cpu().tolist()
    return [FeatureDifference(name, *row) for name, row in zip(reference, values)]


def features_match(differences: list[FeatureDifference], tolerance: float = FEATURE_TOLERANCE) -> bool:
    return all(d.relative_rms <= tolerance for d in differences)


def sample_input(image_size: int, device, dtype: torch.dtype) -> torch.Tensor:
    """A deterministic, smooth (1, 3, size, size) input in [-1, 1], like a normalised photo.

    Smooth rather than white noise so that the features are in the range real frames give.
    """
    generator = torch.Generator().manual_seed(0)
    coarse = torch.rand(1, 3, 16, 16, generator=generator) * 2 - 1
    frame = torch.nn.functional.interpolate(coarse, size=(image_size, image_size), mode="bilinear", align_corners=False)
    return frame.to(device, dtype)


def check_vision_backend(backend: str) -> None:
    """Raise ValueError unless `backend` is one of VISION_BACKENDS."""
    if backend not in VISION_BACKENDS:
        raise ValueError(f"unknown vision backend '{backend}'; choose one of {', '.join(VISION_BACKENDS)}")


def apply_vision_backend(
    model,
    backend: str = "pytorch",
    *,
    cache_dir: str | Path | None = None,
    compile_mode: str | None = None,
) -> str:
    """Run `model`'s vision encoder with `backend`; return the backend actually in use.

    - "pytorch": transformers' module as it is (also undoes an earlier backend).
    - "compile": torch.compile of the vision encoder (`compile_mode` is torch.compile's `mode`,
      e.g. "max-autotune"), compiled here, at start-up, on a test frame so that the first camera
      frames are not slow.
    - "tensorrt": a TensorRT engine of the vision encoder, built once and cached under `cache_dir`
      (default ~/.cache/sam3_ros/tensorrt), checked against PyTorch on a test frame every time it is
      loaded. Needs a CUDA model and the tensorrt, onnx and onnxscript packages.

    The model must already be on its device and in its dtype. Unknown names raise ValueError.
    """
    check_vision_backend(backend)
    encoder = model.detector_model.vision_encoder
    _restore_pytorch(encoder)
    in_use = "pytorch"
    if backend != "pytorch":
        try:
            if backend == "compile":
                _compile(model, compile_mode)
            else:
                _use_tensorrt(model, Path(cache_dir or DEFAULT_TENSORRT_CACHE).expanduser())
            in_use = backend
        except VisionBackendUnavailable as reason:
            _restore_pytorch(encoder)
            logger.warning("vision backend '%s' is not used, running PyTorch instead: %s", backend, reason)
    model.vision_backend = in_use
    return in_use


def _restore_pytorch(encoder: torch.nn.Module) -> None:
    encoder.__dict__.pop("forward", None)  # an instance-level forward is a swapped-in engine
    encoder._compiled_call_impl = None  # set by nn.Module.compile


def _model_input(model) -> torch.Tensor:
    parameter = next(model.parameters())
    return sample_input(model.config.image_size, parameter.device, parameter.dtype)


@torch.inference_mode()
def _compile(model, mode: str | None) -> None:
    encoder = model.detector_model.vision_encoder
    # Fixed input shape (one square frame), so no dynamic-shape guards; compiled under inference
    # mode as the engine runs, or the first frame would recompile.
    encoder.compile(mode=mode, dynamic=False)
    try:
        encoder(_model_input(model))
    except Exception as error:  # inductor needs a C++ compiler on the CPU, triton on the GPU
        first_line = (str(error).strip().splitlines() or [""])[0]
        raise VisionBackendUnavailable(
            f"torch.compile failed ({type(error).__name__}: {first_line}); on a CPU it needs a C++ compiler "
            "(apt-get install build-essential), on a GPU the triton package that CUDA builds of torch ship with"
        ) from error


@torch.inference_mode()
def _use_tensorrt(model, cache_dir: Path) -> None:
    encoder = model.detector_model.vision_encoder
    frame = _model_input(model)
    reason = tensorrt_vision.unavailable_reason(frame.device)
    if reason:
        raise VisionBackendUnavailable(reason)
    reference = encoder(frame)
    try:
        engine = tensorrt_vision.load_or_build(encoder, frame, reference.fpn_position_encoding, cache_dir)
        candidate = engine(frame)
    except Exception as error:  # whatever goes wrong in export, build or first run, the node must still start
        raise VisionBackendUnavailable(f"the TensorRT engine failed: {type(error).__name__}: {error}") from error
    differences = compare_vision_features(reference, candidate)
    worst = max(differences, key=lambda d: d.relative_rms)
    if not features_match(differences):
        raise VisionBackendUnavailable(
            f"the TensorRT engine's features differ from PyTorch's: {worst.name} has a relative RMS error of "
            f"{worst.relative_rms:.3g} (tolerance {FEATURE_TOLERANCE}); engine {engine.path}"
        )
    encoder.forward = engine  # instance attribute: nn.Module.__call__ runs it, the weights stay as they are
    logger.info(
        "vision backend tensorrt: engine %s, features match PyTorch (worst relative RMS %.2g on %s, max %.2g std)",
        engine.path,
        worst.relative_rms,
        worst.name,
        worst.relative_max,
    )
