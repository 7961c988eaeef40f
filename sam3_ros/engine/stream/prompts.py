"""A stream's concept prompts: the registry's changes, mirrored into the stream's session."""

from __future__ import annotations

import torch
from transformers.utils import is_torchvision_available

from sam3_ros.engine.prompt_registry import Prompt, PromptError, PromptRequest
from sam3_ros.engine.stream.session import StreamState
from sam3_ros.engine.track_memory import TrackMemory

# SAM 3's text encoder has 32 positions; longer prompts are truncated by the tokenizer.
_TEXT_TOKENS = 32
# transformers' SAM 3 pools exemplar-box features with torchvision's roi_align, which it imports
# only where this says torchvision is available.
EXEMPLARS_SUPPORTED = is_torchvision_available()


def add_prompts(stream: StreamState, tokenizer, requests: list[PromptRequest]) -> list[Prompt]:
    """Add concepts; texts already active keep their id and tracks (new exemplars attach to them)."""
    new = stream.prompts.plan_add(requests)
    _check_exemplars_supported(requests)
    _attach_exemplars(stream, requests)
    return [register(stream, tokenizer, stream.prompts.add(request)) for request in new]


def remove_prompts(stream: StreamState, memory: TrackMemory, prompt_ids=(), texts=()) -> list[Prompt]:
    """Remove concepts by id or text, with their objects; raises PromptError if one is not active."""
    doomed = {}
    for prompt_id in prompt_ids:
        prompt = stream.prompts.get(prompt_id)
        if prompt is None:
            raise PromptError(f"no active prompt has id {prompt_id}")
        doomed[prompt.id] = prompt
    for text in texts:
        prompt = stream.prompts.find_text(text)
        if prompt is None:
            raise PromptError(f"no active prompt has the text '{text}'")
        doomed[prompt.id] = prompt
    for prompt in doomed.values():
        _unregister(stream, memory, prompt)
    return list(doomed.values())


def replace_prompts(stream: StreamState, tokenizer, memory: TrackMemory, requests: list[PromptRequest]) -> list[Prompt]:
    """Make the active set exactly `requests`; overlapping texts keep their ids and tracks."""
    prompts = stream.prompts
    wanted = prompts.validate(requests)
    _check_exemplars_supported(requests)
    if len(wanted) > prompts.max_prompts:
        raise PromptError(f"{len(wanted)} prompts exceed the limit of {prompts.max_prompts} (parameter max_prompts)")
    wanted_texts = {request.text for request in wanted}
    for prompt in list(prompts):
        if prompt.text not in wanted_texts:
            _unregister(stream, memory, prompt)
    for request in prompts.plan_add(wanted):
        register(stream, tokenizer, prompts.add(request))
    _attach_exemplars(stream, wanted)
    return list(prompts)


def register(stream: StreamState, tokenizer, prompt: Prompt) -> Prompt:
    """Put an active prompt into the stream's session (its text tokenised for the detector)."""
    # The engine's ids are the session's prompt ids: upstream's own add_prompt numbers prompts
    # with len(prompts), which hands out a live id again after a removal.
    session = stream.session
    encoded = tokenizer(prompt.text, return_tensors="pt", padding="max_length", max_length=_TEXT_TOKENS, truncation=True)
    session.prompts[prompt.id] = prompt.text
    session.prompt_input_ids[prompt.id] = encoded.input_ids.to(session.inference_device)
    session.prompt_attention_masks[prompt.id] = encoded.attention_mask.to(session.inference_device)
    return prompt


def exemplar_tensors(prompt: Prompt, width: int, height: int, device, dtype):
    """A prompt's exemplar boxes clipped to a width x height frame, as the detector takes them; None if none is left."""
    boxes, labels = [], []
    for box in prompt.exemplars:
        x0, x1 = min(box.x_min, width), min(box.x_max, width)
        y0, y1 = min(box.y_min, height), min(box.y_max, height)
        if x1 > x0 and y1 > y0:
            boxes.append([(x0 + x1) / 2 / width, (y0 + y1) / 2 / height, (x1 - x0) / width, (y1 - y0) / height])
            labels.append(1 if box.positive else 0)
    if not boxes:
        return None
    return torch.tensor(boxes, device=device, dtype=dtype), torch.tensor(labels, device=device, dtype=torch.long)


def _check_exemplars_supported(requests: list[PromptRequest]) -> None:
    for request in requests:
        if request.exemplars and not EXEMPLARS_SUPPORTED:
            raise PromptError(
                f"prompt '{request.text}' has exemplar boxes, which need torchvision (SAM 3 pools box "
                "features with its roi_align); install the torchvision build matching your torch, or send text only"
            )


def _attach_exemplars(stream: StreamState, requests: list[PromptRequest]) -> None:
    for request in stream.prompts.validate(requests):
        prompt = stream.prompts.find_text(request.text)
        if prompt is not None and request.exemplars:
            stream.prompts.set_exemplars(prompt.id, request.exemplars)


def _unregister(stream: StreamState, memory: TrackMemory, prompt: Prompt) -> None:
    session = stream.session
    obj_ids = [obj_id for obj_id, prompt_id in session.obj_id_to_prompt_id.items() if prompt_id == prompt.id]
    memory.remove_objects(session, obj_ids)
    stream.ids.forget(obj_ids)
    for table in (session.prompts, session.prompt_input_ids, session.prompt_embeddings, session.prompt_attention_masks):
        table.pop(prompt.id, None)
    stream.prompts.remove(prompt.id)
