"""The `  ID  TEXT` lines sam3ctl prints after a change: active prompts, visual objects."""

from __future__ import annotations


def print_listing(rows, nothing: str, out) -> None:
    """`rows` are (id, text) pairs; `nothing` is printed when there are none."""
    if not rows:
        print(nothing, file=out)
    for row_id, text in rows:
        print(f"{row_id:>4}  {text}", file=out)
