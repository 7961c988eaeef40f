"""The set of active concept prompts, with the engine's own ever-increasing prompt ids."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


class PromptError(ValueError):
    """A prompt request that cannot be accepted; the message says why and what to change."""


@dataclass(frozen=True)
class ExemplarBox:
    """An example of the concept drawn on a frame, in source-image pixels (max exclusive)."""

    x_min: float
    y_min: float
    x_max: float
    y_max: float
    positive: bool = True


@dataclass(frozen=True)
class Prompt:
    id: int
    text: str
    exemplars: tuple[ExemplarBox, ...] = field(default=())


@dataclass(frozen=True)
class PromptRequest:
    """What an operator asks for: a noun phrase and optional exemplar boxes."""

    text: str
    exemplars: tuple[ExemplarBox, ...] = field(default=())


def normalize_prompt_text(text: str) -> str:
    """Lower case with single spaces, so "Red  Cup" and "red cup" are the same concept."""
    return " ".join(str(text).split()).lower()


class PromptRegistry:
    """Active prompts keyed by id. Ids only increase, so an id never names two concepts."""

    def __init__(self, max_prompts: int = 16, max_prompt_length: int = 120, max_exemplars: int = 8, first_id: int = 1):
        self.max_prompts = max_prompts
        self.max_prompt_length = max_prompt_length
        self.max_exemplars = max_exemplars
        self._prompts: dict[int, Prompt] = {}
        self._next_id = first_id

    @property
    def next_id(self) -> int:
        return self._next_id

    def __iter__(self):
        return iter(list(self._prompts.values()))

    def __len__(self) -> int:
        return len(self._prompts)

    def get(self, prompt_id: int) -> Prompt | None:
        return self._prompts.get(prompt_id)

    def find_text(self, text: str) -> Prompt | None:
        wanted = normalize_prompt_text(text)
        return next((p for p in self._prompts.values() if p.text == wanted), None)

    def validate(self, requests: list[PromptRequest]) -> list[PromptRequest]:
        """Normalised, deduplicated copies of `requests`; raises PromptError for any bad one."""
        valid: dict[str, PromptRequest] = {}
        for request in requests:
            text = self._validated_text(request.text)
            valid.setdefault(text, PromptRequest(text, self._validated_exemplars(request.exemplars, text)))
        return list(valid.values())

    def plan_add(self, requests: list[PromptRequest]) -> list[PromptRequest]:
        """Validate requests and return the ones that are not active yet.

        Raises PromptError before anything changes, so a bad request leaves the set as it was.
        """
        new = {r.text: r for r in self.validate(requests) if self.find_text(r.text) is None}
        if len(self._prompts) + len(new) > self.max_prompts:
            raise PromptError(
                f"too many prompts: {len(self._prompts)} active + {len(new)} new exceeds the limit of "
                f"{self.max_prompts} (parameter max_prompts); remove some first"
            )
        return list(new.values())

    def add(self, request: PromptRequest) -> Prompt:
        """Register one already-validated request (see plan_add)."""
        prompt = Prompt(self._next_id, normalize_prompt_text(request.text), tuple(request.exemplars))
        self._next_id += 1
        self._prompts[prompt.id] = prompt
        return prompt

    def remove(self, prompt_id: int) -> Prompt:
        return self._prompts.pop(prompt_id)

    def set_exemplars(self, prompt_id: int, exemplars: tuple[ExemplarBox, ...]) -> None:
        """Attach exemplars to an active prompt (empty once the detector has used them)."""
        prompt = self._prompts[prompt_id]
        self._prompts[prompt_id] = Prompt(prompt.id, prompt.text, tuple(exemplars))

    def _validated_text(self, text: str) -> str:
        if not isinstance(text, str):
            raise PromptError(f"prompt text must be a string, got {type(text).__name__}")
        normalized = normalize_prompt_text(text)
        if not normalized:
            raise PromptError("prompt text is empty: give a noun phrase such as 'person' or 'red cup'")
        if len(normalized) > self.max_prompt_length:
            raise PromptError(
                f"prompt text is {len(normalized)} characters, longer than the limit of "
                f"{self.max_prompt_length} (parameter max_prompt_length): use a short noun phrase"
            )
        if not normalized.isprintable():
            raise PromptError("prompt text contains control characters")
        return normalized

    def _validated_exemplars(self, exemplars, text: str) -> tuple[ExemplarBox, ...]:
        exemplars = tuple(exemplars)
        if len(exemplars) > self.max_exemplars:
            raise PromptError(
                f"prompt '{text}' has {len(exemplars)} exemplar boxes, more than the limit of "
                f"{self.max_exemplars} (parameter max_exemplars)"
            )
        for box in exemplars:
            coords = (box.x_min, box.y_min, box.x_max, box.y_max)
            if not all(math.isfinite(c) and c >= 0 for c in coords):
                raise PromptError(f"exemplar box {coords} of prompt '{text}' has a negative or non-finite coordinate")
            if box.x_max < box.x_min or box.y_max < box.y_min:
                raise PromptError(
                    f"exemplar box {coords} of prompt '{text}' is inverted: give (x_min, y_min, x_max, y_max) "
                    "with x_max > x_min and y_max > y_min"
                )
            if box.x_max == box.x_min or box.y_max == box.y_min:
                raise PromptError(f"exemplar box {coords} of prompt '{text}' has zero area: draw it around the example")
        return exemplars


def check_exemplars_inside(requests: list[PromptRequest], width: int, height: int) -> None:
    """Refuse exemplar boxes that reach outside a width x height image (the last frame the node saw).

    The engine would clip them silently; a box drawn for another camera or resolution is more
    likely a mistake than a wish, so the operator hears about it.
    """
    for request in requests:
        for box in request.exemplars:
            if box.x_max > width or box.y_max > height:
                coords = (box.x_min, box.y_min, box.x_max, box.y_max)
                raise PromptError(
                    f"exemplar box {coords} of prompt '{request.text}' reaches outside the image "
                    f"({width}x{height}, the size of the last frame): draw it on the current camera image"
                )
