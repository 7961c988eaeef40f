"""The path of real weights (model:=/path/to/sam3): a folder written by save_pretrained, read back by
load_sam3 through StreamingSam3VideoModel.from_pretrained and AutoTokenizer.from_pretrained.

Every other test builds the tiny model in memory. Here the same tiny model goes through a folder,
as `hf download facebook/sam3 --local-dir` leaves the real one, and must come back exactly: the
same weights and buffers (transformers re-creates the ones the file does not hold, e.g. the ViT's
rotary frequencies, by its own initialisation, which vision_rope_cache depends on), and the same
tracking, bit for bit, on the same frames. A folder that lacks a file is a ModelLoadError that
says what to do.
"""

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from transformers.models.sam3.modeling_sam3 import Sam3ViTRotaryEmbedding

from sam3_ros.engine.concept_tracker import ConceptTracker, TrackerSettings
from sam3_ros.engine.model_loading import ModelLoadError, load_sam3
from sam3_ros.engine.prompt_registry import PromptRequest
from sam3_ros.engine.streaming_sam3 import StreamingSam3VideoModel
from sam3_ros.engine.tiny_model import build_tiny_sam3, save_tiny_sam3
from sam3_ros.engine.vision_rope_cache import FixedGridRotaryEmbedding
from sam3_ros.engine.visual_prompts import Click, VisualPrompt

# Three confident objects per prompt and re-conditioning every second frame: the video config's own
# fields (not only the architecture's) must survive the folder too, and the tracker has work to do.
MODEL = dict(num_queries=3, recondition_every_nth_frame=2, high_conf_thresh=0.0, high_iou_thresh=0.0)
PROMPTS = ("person", "bicycle")
FRAMES = 8
CLICK_AFTER = 2  # a visual object is added after this many frames
# Config entries that say where and how a model was loaded, not what it computes.
LOADING_RECORDS = {"_name_or_path", "architectures", "dtype"}


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return save_tiny_sam3(tmp_path_factory.mktemp("tiny_sam3"), **MODEL)


@pytest.fixture(scope="module")
def in_memory():
    return build_tiny_sam3(**MODEL)


@pytest.fixture(scope="module")
def loaded(folder):
    return load_sam3(str(folder), device="cpu")


def tensors(model) -> dict[str, torch.Tensor]:
    return {**dict(model.named_parameters()), **dict(model.named_buffers())}


def _config_differences(a, b, path="") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [
            d for key in sorted((set(a) | set(b)) - LOADING_RECORDS) for d in _config_differences(a.get(key), b.get(key), f"{path}.{key}")
        ]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def test_the_folder_has_the_files_of_a_downloaded_model(folder):
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in folder.iterdir()}


def test_every_weight_buffer_and_config_field_comes_back(loaded, in_memory):
    model, tokenizer = loaded
    expected_model, expected_tokenizer = in_memory
    assert type(model) is StreamingSam3VideoModel and not model.training
    got, expected = tensors(model), tensors(expected_model)
    assert sorted(got) == sorted(expected)
    differing = [name for name in expected if got[name].dtype != expected[name].dtype or not torch.equal(got[name], expected[name])]
    assert not differing, f"{len(differing)} of {len(expected)} tensors differ, e.g. {differing[:5]}"
    assert _config_differences(model.config.to_dict(), expected_model.config.to_dict()) == []
    assert model.recondition_every_nth_frame == expected_model.recondition_every_nth_frame == 2
    assert tokenizer.get_vocab() == expected_tokenizer.get_vocab()
    for text in (*PROMPTS, "a red cup 42"):
        assert (
            tokenizer(text, padding="max_length", max_length=32).input_ids
            == expected_tokenizer(text, padding="max_length", max_length=32).input_ids
        )


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_a_half_precision_load_equals_the_in_memory_model_cast(folder, dtype):
    """from_pretrained(dtype=...) builds the model in that dtype: its re-created buffers must still
    be the float32 ones rounded, as `.to(dtype)` of the in-memory model gives."""
    model, _ = load_sam3(str(folder), device="cpu", dtype=dtype)
    expected = build_tiny_sam3(**MODEL)[0].to(getattr(torch, dtype))
    got, want = tensors(model), tensors(expected)
    differing = [name for name in want if got[name].dtype != want[name].dtype or not torch.equal(got[name], want[name])]
    assert not differing, differing[:5]


def test_the_rotary_frequencies_are_rebuilt_by_transformers_init_and_cached_right(folder, loaded):
    """The file holds no rotary frequencies (non-persistent buffers): from_pretrained creates the
    modules on the meta device and fills them in its _init_weights, which matches rotary modules by
    "RotaryEmbedding" in the class name. FixedGridRotaryEmbedding keeps that name: its buffers must
    be upstream's values and its cached cos/sin upstream's forward's."""
    with safe_open(str(folder / "model.safetensors"), "pt") as weights:
        saved = weights.keys()
    assert saved and not [key for key in saved if key.endswith("inv_freq")]
    model, _ = loaded
    layers = model.detector_model.vision_encoder.backbone.layers
    expected_inv_freq, _ = Sam3ViTRotaryEmbedding.compute_axial_rope_parameters(layers[0].rotary_emb.config)
    x = torch.zeros(1)
    for layer in layers:
        rotary = layer.rotary_emb
        assert type(rotary) is FixedGridRotaryEmbedding
        assert torch.equal(rotary.inv_freq, expected_inv_freq) and torch.equal(rotary.original_inv_freq, expected_inv_freq)
        assert torch.equal(layer.position_ids, layer.precompute_positions(layer.config, layer.window_size))
        upstream = Sam3ViTRotaryEmbedding.forward(rotary, x, layer.position_ids)
        for _ in range(2):  # computed, then from the cache
            cos, sin = rotary(x, layer.position_ids)
            assert torch.equal(cos, upstream[0]) and torch.equal(sin, upstream[1])


def _frame_record(result) -> tuple:
    """Everything a FrameResult says, masks as bytes, so that two runs compare with ==."""
    instances = tuple(
        (i.track_id, i.prompt_id, i.prompt_text, i.score, i.box, i.frames_tracked, i.mask.shape, np.packbits(i.mask).tobytes())
        for i in result.instances
    )
    return result.frame_index, result.width, result.height, instances, result.prompts


def _track(model_and_tokenizer, frames) -> list[tuple]:
    tracker = ConceptTracker(*model_and_tokenizer, TrackerSettings(confirm_frames=1))
    tracker.add_prompts([PromptRequest(text) for text in PROMPTS])
    records = []
    for index, frame in enumerate(frames):
        if index == CLICK_AFTER:
            height, width = frame.shape[:2]
            tracker.track_object(VisualPrompt((Click(width * 0.5, height * 0.6), Click(3.0, 3.0, positive=False))), "clicked")
        records.append(_frame_record(tracker.process(frame)))
    return records


def test_tracking_with_the_loaded_model_equals_the_in_memory_model_exactly(loaded, in_memory, bikes_frames):
    """Masks, boxes, scores, ids and presence scores of every frame, exactly: the same weights
    run the same operations in the same order on this machine's one torch thread."""
    frames = bikes_frames[:FRAMES]
    got, expected = _track(loaded, frames), _track(in_memory, frames)
    assert all(record[3] for record in expected), "the tiny model must find objects on every frame"
    assert any(text == "clicked" for _, _, text, *_ in expected[-1][3]), "the clicked object must be tracked"
    for index, (frame_got, frame_expected) in enumerate(zip(got, expected)):
        assert frame_got == frame_expected, f"frame {index} differs"


def _partial_copy(source: Path, target: Path, drop=(), truncate=None) -> Path:
    target.mkdir()
    for path in source.iterdir():
        if path.name in drop:
            continue
        if path.name == truncate:  # an interrupted download
            (target / path.name).write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        else:
            (target / path.name).symlink_to(path)
    return target


@pytest.mark.parametrize(
    "drop, truncate, reason",
    [
        (("config.json",), None, "no config.json"),
        (("model.safetensors",), None, "no file named model.safetensors"),
        (("tokenizer.json", "tokenizer_config.json"), None, "no tokenizer vocabulary"),
        ((), "model.safetensors", "incomplete metadata"),
    ],
    ids=["no-config", "no-weights", "no-tokenizer", "truncated-weights"],
)
def test_a_folder_missing_a_file_says_what_to_do(folder, tmp_path, drop, truncate, reason):
    incomplete = _partial_copy(folder, tmp_path / "sam3", drop, truncate)
    with pytest.raises(ModelLoadError) as error:
        load_sam3(str(incomplete), device="cpu")
    message = str(error.value)
    assert str(incomplete) in message and reason in message, message
    assert "hf download facebook/sam3 --local-dir" in message and "parameter model" in message, message
