"""The page's JSON requests as the node's service requests, checked as sam3ctl checks its arguments.

Each function takes the decoded JSON body and returns a request message, or raises BadArguments
with what is wrong; the page shows that text.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

from sam3_ros.cli.errors import BadArguments
from sam3_ros.cli.object_commands import track_id, with_clicks_and_box
from sam3_ros.cli.prompt_commands import concept_prompts
from sam3_ros.srv import RefineObject, RemoveObject, SetPrompts, TrackObject

PROMPT_ACTIONS = {"add": SetPrompts.Request.ADD, "remove": SetPrompts.Request.REMOVE, "replace": SetPrompts.Request.REPLACE}


def set_prompts_request(body: dict) -> SetPrompts.Request:
    """{"action": "add"|"remove"|"replace", "texts": [...], "ids": [...]}."""
    action = _field(body, "action", str)
    if action not in PROMPT_ACTIONS:
        raise BadArguments(f"prompt action '{action}': one of {', '.join(PROMPT_ACTIONS)}")
    texts = [text.strip() for text in _list(body, "texts", str)]
    ids = _list(body, "ids", int)
    if action == "add" and not any(texts):
        raise BadArguments("type a phrase to add, e.g. red circle")
    if action == "remove" and not (any(texts) or ids):
        raise BadArguments("say which prompt to remove")
    request = SetPrompts.Request(mode=PROMPT_ACTIONS[action], prompts=concept_prompts([text for text in texts if text]))
    request.prompt_ids = [_prompt_id(value) for value in ids]
    return request


def track_object_request(body: dict) -> TrackObject.Request:
    """{"camera": name, "points": [[x, y], ...], "negative_points": [...], "box": [x, y, w, h] | null, "label": text}."""
    request = TrackObject.Request(label=_field(body, "label", str, ""), camera=_field(body, "camera", str, ""))
    return with_clicks_and_box(request, _clicks_and_box(body))


def refine_object_request(body: dict) -> RefineObject.Request:
    """{"track_id": id, "points": ..., "negative_points": ..., "box": ...}."""
    request = RefineObject.Request(track_id=track_id(_field(body, "track_id", int)))
    return with_clicks_and_box(request, _clicks_and_box(body))


def remove_object_request(body: dict) -> RemoveObject.Request:
    """{"track_id": id}."""
    return RemoveObject.Request(track_id=track_id(_field(body, "track_id", int)))


def _clicks_and_box(body: dict) -> SimpleNamespace:
    """The clicks and the box in the shape of sam3ctl's parsed arguments (object_commands.with_clicks_and_box)."""
    box = body.get("box")
    if box is not None:
        box = [int(v) for v in _pixels(box, 4, "box")]
    return SimpleNamespace(
        point=[_pixels(p, 2, "point") for p in _list(body, "points", list)],
        negative_point=[_pixels(p, 2, "negative point") for p in _list(body, "negative_points", list)],
        box=box,
    )


def _pixels(values, count: int, what: str) -> list[float]:
    if not (isinstance(values, list) and len(values) == count and all(_is_number(v) for v in values)):
        raise BadArguments(f"a {what} is {count} numbers (pixels), not {values!r}")
    return [float(v) for v in values]


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _prompt_id(value: int) -> int:
    if not 0 < value < 2**32:
        raise BadArguments(f"prompt id {value}: a prompt id is a positive integer")
    return value


def _field(body: dict, name: str, kind: type, default=None):
    value = body.get(name, default)
    if value is None or not isinstance(value, kind) or isinstance(value, bool):
        raise BadArguments(f"'{name}' must be {kind.__name__ if kind is not str else 'text'}, not {value!r}")
    return value


def _list(body: dict, name: str, kind: type) -> list:
    values = body.get(name, [])
    if not isinstance(values, list) or not all(isinstance(v, kind) and not isinstance(v, bool) for v in values):
        raise BadArguments(f"'{name}' must be a list of {kind.__name__ if kind is not str else 'texts'}")
    return values
