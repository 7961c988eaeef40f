"""What `sam3ctl watch` shows: the node's latest InstanceArray and diagnostics as one terminal view.

Pure rendering (rich renderables from the messages' fields); the subscriptions are in watch.py.
"""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

_LEVEL_STYLES = {0: ("OK", "green"), 1: ("WARN", "yellow"), 2: ("ERROR", "red"), 3: ("STALE", "magenta")}
# Diagnostics values shown in the header, in this order, with a short label.
_HEADER_VALUES = (
    ("lifecycle state", "state"),
    ("input rate (Hz)", "input Hz"),
    ("processed rate (Hz)", "processed Hz"),
    ("latency mean (s)", "latency s"),
    ("latency max (s)", "max s"),
    ("dropped frames", "dropped"),
)


def diagnostic_level(status) -> int:
    """DiagnosticStatus.level is a `byte`: bytes in rclpy, an int in some versions."""
    level = status.level
    return level[0] if isinstance(level, (bytes, bytearray)) else int(level)


def health_line(node_name: str, status) -> Text:
    """`/sam3  OK  state active  input Hz 25.0 ...` from the node's latest DiagnosticStatus."""
    line = Text(node_name, style="bold")
    if status is None:
        return line.append("  no diagnostics yet", style="dim")
    label, style = _LEVEL_STYLES.get(diagnostic_level(status), ("?", "white"))
    line.append(f"  {label}", style=f"bold {style}")
    values = {item.key: item.value for item in status.values}
    for key, short in _HEADER_VALUES:
        if key in values:
            line.append(f"  {short} ").append(values[key], style="bold")
    if diagnostic_level(status) != 0:
        line.append(f"\n{status.message}", style=style)
    return line


def instances_table(array) -> Table:
    """One row per prompt (presence score, instance count), followed by its instances."""
    stamp = f"{array.header.stamp.sec}.{array.header.stamp.nanosec:09d}"
    table = Table(
        title=f"frame {stamp}  {array.width}x{array.height}  {len(array.instances)} instances",
        title_justify="left",
        expand=False,
    )
    for column in ("prompt", "ID", "score", "box x,y,w,h", "frames", "position m (x,y,z)"):
        table.add_column(column, justify="left" if column in ("prompt", "box x,y,w,h", "position m (x,y,z)") else "right")
    by_prompt = {}
    for instance in array.instances:
        by_prompt.setdefault(instance.prompt_id, []).append(instance)
    for prompt in array.prompts:
        table.add_row(
            Text(f"#{prompt.id} {prompt.text}", style="bold"),
            "", f"p {prompt.presence_score:.2f}", f"{prompt.instance_count} instances", "", "",
        )
        for instance in sorted(by_prompt.get(prompt.id, []), key=lambda i: i.id):
            box = instance.box
            position = (
                f"{instance.position.x:.2f},{instance.position.y:.2f},{instance.position.z:.2f}"
                if instance.has_position else ""
            )
            table.add_row(
                "", str(instance.id), f"{instance.score:.2f}",
                f"{box.x_offset},{box.y_offset},{box.width},{box.height}", str(instance.frames_tracked), position,
            )
    return table


def live_view(node_name: str, array, status, waiting_for: str) -> Group:
    """The whole view; `waiting_for` is shown while no InstanceArray has arrived."""
    body = instances_table(array) if array is not None else Text(f"waiting for {waiting_for} ...", style="dim")
    return Group(health_line(node_name, status), body)
