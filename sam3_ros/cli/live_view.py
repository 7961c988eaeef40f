"""What `sam3ctl watch` shows: the node's latest InstanceArray and diagnostics as one terminal view.

Pure rendering (rich renderables from the messages' fields); the subscriptions are in watch.py.
"""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

_LEVEL_STYLES = {0: ("OK", "green"), 1: ("WARN", "yellow"), 2: ("ERROR", "red"), 3: ("STALE", "magenta")}


def diagnostic_level(status) -> int:
    """DiagnosticStatus.level is a `byte`: bytes in rclpy, an int in some versions."""
    level = status.level
    return level[0] if isinstance(level, (bytes, bytearray)) else int(level)


def health_line(node_name: str, status) -> Text:
    """`/sam3  OK  active  in 25.0 Hz  processed 12.1 Hz  latency 0.080 s (max 0.120)  dropped 3`."""
    line = Text(node_name, style="bold")
    if status is None:
        return line.append("  no diagnostics yet", style="dim")
    level = diagnostic_level(status)
    label, style = _LEVEL_STYLES.get(level, ("?", "white"))
    values = {item.key: item.value for item in status.values}
    value = lambda key: values.get(key, "?")  # noqa: E731
    line.append(f"  {label}", style=f"bold {style}").append(f"  {value('lifecycle state')}")
    line.append(f"  in {value('input rate (Hz)')} Hz  processed {value('processed rate (Hz)')} Hz")
    latency = value("latency mean (s)")
    line.append(f"  latency {latency}" + ("" if latency == "n/a" else f" s (max {value('latency max (s)')})"))
    line.append(f"  dropped {value('dropped frames')}")
    if level != 0:
        line.append(f"\n{status.message}", style=style)
    return line


def prompts_table(array) -> Table:
    """Per prompt: its id, text, the detector's presence score and how many instances it has."""
    stamp = f"{array.header.stamp.sec}.{array.header.stamp.nanosec:09d}"
    table = Table(title=f"frame {stamp}  {array.width}x{array.height}", title_justify="left")
    for column in ("prompt", "text", "presence", "instances"):
        table.add_column(column, justify="left" if column == "text" else "right")
    for prompt in array.prompts:
        table.add_row(str(prompt.id), prompt.text, f"{prompt.presence_score:.2f}", str(prompt.instance_count))
    return table


def instances_table(array) -> Table:
    """Per instance, grouped by prompt: track ID, score, box, frames tracked, 3D position."""
    table = Table()
    for column in ("prompt", "ID", "score", "box x,y,w,h", "frames", "position m"):
        table.add_column(column, justify="right" if column in ("ID", "score", "frames") else "left")
    texts = {prompt.id: prompt.text for prompt in array.prompts}
    for instance in sorted(array.instances, key=lambda i: (i.prompt_id, i.id)):
        box, point = instance.box, instance.position
        table.add_row(
            f"{instance.prompt_id} {texts.get(instance.prompt_id, instance.prompt_text)}",
            str(instance.id),
            f"{instance.score:.2f}",
            f"{box.x_offset},{box.y_offset},{box.width},{box.height}",
            str(instance.frames_tracked),
            f"{point.x:.2f},{point.y:.2f},{point.z:.2f}" if instance.has_position else "",
        )
    return table


def live_view(node_name: str, array, status, waiting_for: str) -> Group:
    """The whole view; `waiting_for` is shown while no InstanceArray has arrived."""
    if array is None:
        return Group(health_line(node_name, status), Text(f"waiting for {waiting_for} ...", style="dim"))
    return Group(health_line(node_name, status), prompts_table(array), instances_table(array))
