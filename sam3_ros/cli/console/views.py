"""What the page shows, as JSON-ready dicts made from the node's messages (no masks: the overlay
image carries them)."""

from __future__ import annotations

from sam3_ros.cli.console.frames import stamp_text
from sam3_ros.cli.live_view import diagnostic_level

_LEVELS = {0: "OK", 1: "WARN", 2: "ERROR", 3: "STALE"}
# The figures of the node's DiagnosticStatus that the page's status line shows (docs/behaviour.md).
DIAGNOSTIC_KEYS = (
    "input rate (Hz)",
    "processed rate (Hz)",
    "latency mean (s)",
    "latency max (s)",
    "dropped frames",
)


def instance_array_view(array) -> dict:
    """One camera's newest InstanceArray: its frame, instances and per-prompt summary."""
    return {
        "stamp": stamp_text(array.header.stamp),
        "width": array.width,
        "height": array.height,
        "instances": [
            {
                "id": instance.id,
                "prompt_id": instance.prompt_id,
                "concept": instance.prompt_text,
                "score": round(float(instance.score), 3),
                "box": [instance.box.x_offset, instance.box.y_offset, instance.box.width, instance.box.height],
                "visual": instance.prompt_id == 0,  # a visual object (TrackObject) has no prompt
            }
            for instance in sorted(array.instances, key=lambda i: i.id)
        ],
        "prompts": [
            {"id": p.id, "text": p.text, "presence": round(float(p.presence_score), 3), "instances": p.instance_count}
            for p in array.prompts
        ],
    }


def active_prompts_view(active_prompts) -> list[dict]:
    """ActivePrompt messages (GetPrompts, SetPrompts answers)."""
    return [{"id": p.id, "text": p.text, "exemplar_boxes": p.exemplar_count} for p in active_prompts]


def visual_objects_view(visual_objects) -> list[dict]:
    return [{"track_id": o.track_id, "label": o.label, "camera": o.camera} for o in visual_objects]


def diagnostics_view(status) -> dict | None:
    """The node's DiagnosticStatus: level, message, lifecycle state and the figures of DIAGNOSTIC_KEYS."""
    if status is None:
        return None
    values = {item.key: item.value for item in status.values}
    return {
        "level": _LEVELS.get(diagnostic_level(status), "?"),
        "message": status.message,
        "lifecycle_state": values.get("lifecycle state", "unknown"),
        "figures": {key: values[key] for key in DIAGNOSTIC_KEYS if key in values},
    }
