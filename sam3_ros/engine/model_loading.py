"""Loads SAM 3 (weights and tokenizer) from the Hugging Face hub or a local directory."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError
from transformers import AutoTokenizer

from sam3_ros.engine.mask_kernels import install_mask_kernels
from sam3_ros.engine.streaming_sam3 import StreamingSam3VideoModel
from sam3_ros.engine.tiny_model import TINY_MODEL_NAME, UNTRAINED_BANNER, build_tiny_sam3
from sam3_ros.engine.vision_backends import apply_vision_backend, check_vision_backend

DEFAULT_MODEL = "facebook/sam3"
# A tiny SAM 3 trained on the synthetic shapes of sam3_ros.synthetic, to ship with the package in
# sam3_ros/models/tiny-synthetic/ (tools/train_tiny_sam3.py --export writes it): a model that sees,
# for tests, the tracking-quality benchmark and the demo, where real weights are not available.
TRAINED_TINY_MODEL_NAME = "tiny-synthetic"
PACKAGED_MODELS = {TRAINED_TINY_MODEL_NAME: Path(__file__).resolve().parents[1] / "models" / TRAINED_TINY_MODEL_NAME}
# What every overlay of a test model says, so that no one takes its masks for SAM 3's.
MODEL_BANNERS = {TINY_MODEL_NAME: UNTRAINED_BANNER, TRAINED_TINY_MODEL_NAME: "tiny model trained on synthetic shapes"}

HOW_TO_GET_WEIGHTS = (
    "SAM 3 weights are gated: accept the licence at https://huggingface.co/facebook/sam3, then either "
    "run `hf auth login` on this machine (the weights download on first use) or download them once "
    "with `hf download facebook/sam3 --local-dir /path/to/sam3` and set the parameter model to that "
    f"directory. model:={TINY_MODEL_NAME} runs an untrained tiny model for plumbing tests, "
    f"model:={TRAINED_TINY_MODEL_NAME} a tiny model that knows only synthetic coloured shapes."
)


class ModelLoadError(RuntimeError):
    """The model could not be loaded; the message says how to fix it."""


def _incomplete_folder(model: str, what: str) -> ModelLoadError:
    return ModelLoadError(
        f"could not load SAM 3 from '{model}': the folder has {what}. It must hold a whole model as "
        "`hf download facebook/sam3 --local-dir FOLDER` leaves it (config.json, model.safetensors and the "
        "tokenizer files): download it again into an empty folder, or set the parameter model to a folder "
        f"that has them.\n{HOW_TO_GET_WEIGHTS}"
    )


def _load_pretrained(model: str, torch_dtype: torch.dtype):
    """(model, tokenizer) of a hub id or local folder, on the CPU; raises ModelLoadError."""
    # Without config.json, from_pretrained would build the default (full-size) SAM 3 and then fail on
    # every weight with a report of hundreds of lines instead of saying that the file is missing.
    if Path(model).is_dir() and not (Path(model) / "config.json").is_file():
        raise _incomplete_folder(model, "no config.json")
    try:
        sam3 = StreamingSam3VideoModel.from_pretrained(model, dtype=torch_dtype)
        tokenizer = AutoTokenizer.from_pretrained(model)
    except (OSError, ValueError, SafetensorError) as error:  # SafetensorError: a truncated download
        raise ModelLoadError(f"could not load SAM 3 from '{model}': {error}\n{HOW_TO_GET_WEIGHTS}") from error
    # A folder without its tokenizer files still gives a tokenizer, without error: one that knows
    # only its special tokens, so every prompt would read the same and the detector find nothing.
    if set(tokenizer.get_vocab()) <= set(tokenizer.all_special_tokens):
        raise _incomplete_folder(model, "no tokenizer vocabulary (tokenizer.json, or vocab.json and merges.txt)")
    text_vocab_size = sam3.config.detector_config.text_config.vocab_size
    if len(tokenizer) > text_vocab_size:
        raise _incomplete_folder(
            model, f"a tokenizer of {len(tokenizer)} tokens for a text encoder of {text_vocab_size}: they are not from the same model"
        )
    return sam3, tokenizer


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ModelLoadError(f"device '{name}' is not a torch device name (use auto, cpu, cuda or cuda:N)") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError(f"device '{name}' was asked for but this torch build or machine has no CUDA; use cpu or auto")
    return device


_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """bf16 on a GPU and fp32 on the CPU unless told otherwise.

    The model is loaded in this dtype rather than run under autocast: autocast is per-thread and
    would silently not apply in a ROS executor thread.
    """
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if name not in _DTYPES:
        raise ModelLoadError(f"dtype '{name}' is not one of auto, {', '.join(_DTYPES)}")
    return _DTYPES[name]


def load_sam3(
    model: str = DEFAULT_MODEL,
    device: str = "auto",
    dtype: str = "auto",
    vision_backend: str = "pytorch",
    tensorrt_cache_dir: str | None = None,
):
    """Return (model, tokenizer) ready for inference on the resolved device and dtype.

    `vision_backend` (pytorch, compile, tensorrt) selects how the vision backbone runs; one that
    cannot run here falls back to pytorch with a log line, and `model.vision_backend` says which
    one is in use (see sam3_ros.engine.vision_backends). An unknown name raises ValueError.
    `model.mask_kernels` says which implementation runs detection NMS and hole filling (see
    sam3_ros.engine.mask_kernels).
    """
    check_vision_backend(vision_backend)
    torch_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, torch_device)
    if model == TINY_MODEL_NAME:
        sam3, tokenizer = build_tiny_sam3()
    else:
        if model in PACKAGED_MODELS and not PACKAGED_MODELS[model].is_dir():
            raise ModelLoadError(
                f"model '{model}' is not in this install: its folder {PACKAGED_MODELS[model]} is missing "
                "(it is exported by tools/train_tiny_sam3.py --export, docs/training.md); use "
                f"model:={TINY_MODEL_NAME} or real SAM 3 weights"
            )
        sam3, tokenizer = _load_pretrained(str(PACKAGED_MODELS.get(model, model)), torch_dtype)
    sam3 = sam3.to(torch_device, dtype=torch_dtype).eval()
    apply_vision_backend(sam3, vision_backend, cache_dir=tensorrt_cache_dir)
    sam3.mask_kernels = install_mask_kernels(torch_device)
    return sam3, tokenizer
