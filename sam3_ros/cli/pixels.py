"""Boxes in image pixels, from the command line (X Y W H) to sensor_msgs/RegionOfInterest."""

from __future__ import annotations

from sensor_msgs.msg import RegionOfInterest

from sam3_ros.cli.errors import BadArguments

BOX_METAVAR = ("X", "Y", "W", "H")


def region_of_interest(box, what: str) -> RegionOfInterest:
    """`what` names the box in the error, e.g. 'exemplar box'."""
    x, y, width, height = box
    if min(box) < 0:
        raise BadArguments(f"{what} {x} {y} {width} {height}: X Y W H must not be negative")
    return RegionOfInterest(x_offset=x, y_offset=y, width=width, height=height)
