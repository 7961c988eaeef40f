"""`sam3ctl objects track|refine|remove`: the node's visual prompts (~/track_object, ~/refine_object, ~/remove_object).

Clicks and boxes are pixels of the most recent processed image: the width x height of the last
~/instances (`sam3ctl watch --once` shows it).
"""

from __future__ import annotations

from geometry_msgs.msg import Point32

from sam3_ros.cli.connection import UNCONFIGURED_HINT, Sam3Connection
from sam3_ros.cli.errors import BadArguments, RequestRefused
from sam3_ros.cli.listing import print_listing
from sam3_ros.cli.pixels import BOX_METAVAR, region_of_interest
from sam3_ros.srv import RefineObject, RemoveObject, TrackObject

_MAX_TRACK_ID = 2**32 - 1  # uint32


def add_arguments(subparsers, common) -> None:
    objects = subparsers.add_parser("objects", help="track, correct or stop single objects given by clicks and/or a box")
    verbs = objects.add_subparsers(dest="verb", required=True, metavar="VERB")

    track = verbs.add_parser("track", parents=[common], help="track one object; prints its new track id")
    _add_clicks_and_box(track)
    track.add_argument("--label", default="", help="the prompt_text of its instances (default 'object ID')")
    track.add_argument(
        "--camera", default="", help="the camera whose image the pixels are in, on a node with several (its `cameras` parameter)"
    )

    refine = verbs.add_parser("refine", parents=[common], help="correct the mask of one tracked object, of a concept or a visual one")
    refine.add_argument("track_id", type=int, metavar="TRACK_ID")
    _add_clicks_and_box(refine)

    remove = verbs.add_parser(
        "remove", parents=[common], help="stop tracking an object started with `track` (concept objects go with their prompt)"
    )
    remove.add_argument("track_id", type=int, metavar="TRACK_ID")


def _add_clicks_and_box(parser) -> None:
    parser.add_argument(
        "--point",
        nargs=2,
        type=float,
        action="append",
        default=[],
        metavar=("X", "Y"),
        help="a pixel on the object: X column, Y row (repeatable)",
    )
    parser.add_argument(
        "--negative-point",
        nargs=2,
        type=float,
        action="append",
        default=[],
        metavar=("X", "Y"),
        help="a pixel that is not the object (repeatable)",
    )
    parser.add_argument("--box", nargs=4, type=int, metavar=BOX_METAVAR, help="a box around the object")


def run(args, connection: Sam3Connection, out) -> None:
    if args.verb == "track":
        request = with_clicks_and_box(TrackObject.Request(label=args.label, camera=args.camera), args)
        response = connection.call(TrackObject, "track_object", request, missing_hint=UNCONFIGURED_HINT)
    elif args.verb == "refine":
        request = with_clicks_and_box(RefineObject.Request(track_id=track_id(args.track_id)), args)
        response = connection.call(RefineObject, "refine_object", request, missing_hint=UNCONFIGURED_HINT)
    else:
        request = RemoveObject.Request(track_id=track_id(args.track_id))
        response = connection.call(RemoveObject, "remove_object", request, missing_hint=UNCONFIGURED_HINT)
    if not response.success:
        raise RequestRefused(response.message)
    print(response.message, file=out)
    print_visual_objects(response.visual_objects, out)


def track_id(value: int) -> int:
    if not 0 < value <= _MAX_TRACK_ID:
        raise BadArguments(f"track id {value}: a track id is a positive integer (the ID column of `sam3ctl watch`)")
    return value


def with_clicks_and_box(request, args):
    """`request` (TrackObject or RefineObject) with the clicks and the box of the command line."""
    if not (args.point or args.negative_point or args.box):
        raise BadArguments("say where the object is: --point X Y, --negative-point X Y and/or --box X Y W H")
    clicks = [(point, True) for point in args.point] + [(point, False) for point in args.negative_point]
    request.points = [Point32(x=x, y=y) for (x, y), _ in clicks]
    request.positive = [positive for _, positive in clicks]
    if args.box:
        request.box = region_of_interest(args.box, "box")
    return request


def print_visual_objects(visual_objects, out) -> None:
    """What the node tracks from visual prompts after the call."""
    print_listing(
        [(o.track_id, f"{o.label}  (camera {o.camera})" if o.camera else o.label) for o in visual_objects], "no visual objects", out
    )
