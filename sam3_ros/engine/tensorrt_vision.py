"""SAM 3's vision encoder as a TensorRT engine: ONNX export, engine build, on-disk cache, execution.

Used by `vision_backends` for the "tensorrt" backend; the checks that decide whether the engine is
used (numerical agreement with PyTorch) live there. TensorRT, onnx and onnxscript are imported only
here and only when an engine is built or loaded, so none of them is a dependency of the package.

The network is built strongly typed (TensorRT 11 has no other kind; 10.x takes the flag): the
precision is the one the graph was exported in, i.e. the model's own dtype (bf16 on a GPU), so the
engine computes in the same precision as the PyTorch model it replaces.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import logging
import os
import tempfile
import time
from pathlib import Path

import torch
import transformers
from transformers.models.sam3.modeling_sam3 import Sam3VisionEncoderOutput

logger = logging.getLogger("sam3_ros")

INSTALL_HINT = (
    "install TensorRT and the ONNX exporter's packages: pip install tensorrt-cu12 onnx onnxscript "
    "(tensorrt-cu13 for a CUDA 13 build of torch)"
)
_REQUIRED_MODULES = ("tensorrt", "onnx", "onnxscript")
INPUT_NAME = "pixel_values"


class TensorRTBuildError(RuntimeError):
    """The engine could not be exported, built or loaded; the message says at which step."""


def unavailable_reason(device: torch.device) -> str | None:
    """Why a TensorRT engine cannot run for a model on `device`, or None if it can be tried."""
    if device.type != "cuda":
        return f"TensorRT needs the model on a CUDA GPU, and it is on {device.type}"
    missing = [name for name in _REQUIRED_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        return f"{', '.join(missing)} not installed; {INSTALL_HINT}"
    return None


def output_names(encoder) -> list[str]:
    levels = len(encoder.config.scale_factors)
    return ["last_hidden_state"] + [f"fpn_{level}" for level in range(levels)]


class _FlatOutputs(torch.nn.Module):
    """The encoder with a tuple of tensors as output, the form an ONNX graph can have."""

    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, pixel_values):
        features = self.encoder(pixel_values)
        return (features.last_hidden_state, *features.fpn_hidden_states)


def export_onnx(encoder, example: torch.Tensor, path: Path) -> None:
    """Export the encoder for inputs shaped like `example` (fixed shape, the encoder's dtype)."""
    try:
        torch.onnx.export(
            _FlatOutputs(encoder).eval(),
            (example,),
            str(path),
            dynamo=True,  # the maintained exporter (torch.export); the TorchScript one is deprecated
            input_names=[INPUT_NAME],
            output_names=output_names(encoder),
            external_data=True,  # ViT-L weights exceed protobuf's 2 GB limit in float32
            verbose=False,
        )
    except Exception as error:
        raise TensorRTBuildError(f"exporting the vision encoder to ONNX failed: {type(error).__name__}: {error}") from error


def weights_fingerprint(module: torch.nn.Module) -> str:
    """A hash of every parameter and buffer (name, shape, dtype, sum, sum of squares).

    Cheap (one reduction per tensor on the device, one transfer) and enough to tell checkpoints and
    random initialisations apart, which the cache key must: an engine embeds its weights.
    """
    tensors = dict(module.named_parameters())
    tensors.update(module.named_buffers())
    names = sorted(tensors)
    sums = torch.stack([torch.stack([tensors[n].double().sum(), tensors[n].double().square().sum()]) for n in names])
    digest = hashlib.sha256()
    for name, (total, squares) in zip(names, sums.cpu().tolist()):
        digest.update(f"{name}:{tuple(tensors[name].shape)}:{tensors[name].dtype}:{total!r}:{squares!r};".encode())
    return digest.hexdigest()


def engine_key(encoder, example: torch.Tensor) -> dict[str, str]:
    """What an engine depends on: GPU, input shape, precision, versions, weights."""
    trt = importlib.import_module("tensorrt")
    device = example.device
    major, minor = torch.cuda.get_device_capability(device)
    return {
        "gpu": f"{torch.cuda.get_device_name(device)} (sm_{major}{minor})",
        "input_shape": "x".join(str(s) for s in example.shape),
        "precision": str(example.dtype).removeprefix("torch."),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tensorrt": trt.__version__,
        "weights": weights_fingerprint(encoder),
    }


def engine_path(cache_dir: Path, key: dict[str, str]) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return cache_dir / f"sam3-vision-{key['input_shape']}-{key['precision']}-{digest}.engine"


def build_engine(onnx_path: Path) -> bytes:
    """Build a serialized engine from an ONNX file; its precision is the graph's own."""
    trt = importlib.import_module("tensorrt")
    trt_logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(trt_logger)
    strongly_typed = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    network = builder.create_network(0 if strongly_typed is None else 1 << int(strongly_typed))
    parser = trt.OnnxParser(network, trt_logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise TensorRTBuildError(f"TensorRT's ONNX parser rejected the exported encoder: {errors}")
    plan = builder.build_serialized_network(network, builder.create_builder_config())
    if plan is None:
        raise TensorRTBuildError("TensorRT could not build an engine for the vision encoder (its log above says why)")
    return bytes(plan)


class TensorRTVisionEncoder:
    """Runs the engine in place of `Sam3VisionModel.forward` and returns the same output type.

    The FPN position encodings depend only on the input shape; they are taken from a PyTorch run.
    """

    def __init__(self, plan: bytes, position_encodings, names: list[str], device: torch.device, path: Path):
        trt = importlib.import_module("tensorrt")
        self.path = path
        self._device = device
        self._runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self._engine = self._runtime.deserialize_cuda_engine(plan)
        if self._engine is None:
            raise TensorRTBuildError(f"TensorRT could not load the engine {path}")
        self._context = self._engine.create_execution_context()
        dtypes = {trt.float32: torch.float32, trt.float16: torch.float16, trt.bfloat16: torch.bfloat16}
        self._input_dtype = dtypes[self._engine.get_tensor_dtype(INPUT_NAME)]
        self._outputs = [(name, tuple(self._engine.get_tensor_shape(name)), dtypes[self._engine.get_tensor_dtype(name)]) for name in names]
        self._position_encodings = tuple(position_encodings)

    def __call__(self, pixel_values: torch.Tensor, **kwargs) -> Sam3VisionEncoderOutput:
        pixel_values = pixel_values.to(self._device, self._input_dtype).contiguous()
        # Fresh outputs every frame (cheap with torch's caching allocator): the session may keep
        # references to a frame's features, which a reused buffer would overwrite.
        outputs = [torch.empty(shape, dtype=dtype, device=self._device) for _, shape, dtype in self._outputs]
        self._context.set_tensor_address(INPUT_NAME, pixel_values.data_ptr())
        for (name, _, _), tensor in zip(self._outputs, outputs):
            self._context.set_tensor_address(name, tensor.data_ptr())
        if not self._context.execute_async_v3(torch.cuda.current_stream(self._device).cuda_stream):
            raise RuntimeError(f"TensorRT engine {self.path} failed to run")
        last_hidden_state, *fpn = outputs
        return Sam3VisionEncoderOutput(
            last_hidden_state=last_hidden_state,
            fpn_hidden_states=tuple(fpn),
            fpn_position_encoding=self._position_encodings,
        )


def load_or_build(encoder, example: torch.Tensor, position_encodings, cache_dir: Path) -> TensorRTVisionEncoder:
    """The cached engine for this encoder, GPU, shape, precision and versions; built if missing."""
    key = engine_key(encoder, example)
    path = engine_path(cache_dir, key)
    if path.exists():
        plan = path.read_bytes()
    else:
        logger.info(
            "building a TensorRT engine for the vision encoder (once per GPU, shape, precision, versions and weights; minutes): %s", path
        )
        started = time.monotonic()
        cache_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache_dir, prefix="export-") as scratch:
            onnx_path = Path(scratch) / "vision_encoder.onnx"
            export_onnx(encoder, example, onnx_path)
            plan = build_engine(onnx_path)
        partial = path.with_suffix(".partial")
        partial.write_bytes(plan)
        os.replace(partial, path)  # atomic: a crash never leaves a truncated engine under the final name
        path.with_suffix(".json").write_text(json.dumps(key, indent=2) + "\n")
        logger.info("TensorRT engine built in %.0f s", time.monotonic() - started)
    return TensorRTVisionEncoder(plan, position_encodings, output_names(encoder), example.device, path)
