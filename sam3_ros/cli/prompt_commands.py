"""`sam3ctl prompts get|add|remove|replace`: the node's ~/get_prompts and ~/set_prompts."""

from __future__ import annotations

from sam3_ros.cli.connection import UNCONFIGURED_HINT, Sam3Connection
from sam3_ros.cli.errors import BadArguments, RequestRefused
from sam3_ros.cli.listing import print_listing
from sam3_ros.cli.pixels import BOX_METAVAR, region_of_interest
from sam3_ros.msg import ConceptPrompt
from sam3_ros.srv import GetPrompts, SetPrompts


def add_arguments(subparsers, common) -> None:
    prompts = subparsers.add_parser("prompts", help="get or change the concepts the node tracks")
    verbs = prompts.add_subparsers(dest="verb", required=True, metavar="VERB")

    verbs.add_parser("get", parents=[common], help="list the active prompts (id, text, exemplar boxes)")

    add = verbs.add_parser("add", parents=[common], help="add prompts; texts already active are kept as they are")
    add.add_argument("texts", nargs="+", metavar="TEXT", help='a concept, e.g. "red cup"')
    add.add_argument(
        "--box",
        nargs=4,
        type=int,
        action="append",
        default=[],
        metavar=BOX_METAVAR,
        help="a positive exemplar box in pixels of the next processed frame (one TEXT only; repeatable)",
    )
    add.add_argument(
        "--negative-box",
        nargs=4,
        type=int,
        action="append",
        default=[],
        metavar=BOX_METAVAR,
        help="a negative exemplar box: what the concept is not (one TEXT only; repeatable)",
    )

    remove = verbs.add_parser("remove", parents=[common], help="remove prompts by text or by id")
    remove.add_argument("texts", nargs="*", metavar="TEXT")
    remove.add_argument("--id", dest="ids", type=int, action="append", default=[], help="a prompt id (repeatable)")

    replace = verbs.add_parser(
        "replace", parents=[common], help="make the active set exactly these texts (shared texts keep ids and tracks)"
    )
    replace.add_argument("texts", nargs="*", metavar="TEXT", help="none clears the set")


def run(args, connection: Sam3Connection, out) -> None:
    if args.verb == "get":
        response = connection.call(GetPrompts, "get_prompts", GetPrompts.Request(), missing_hint=UNCONFIGURED_HINT)
        print_prompts(response.active_prompts, out)
        return
    request = SetPrompts.Request()
    if args.verb == "add":
        request.mode = SetPrompts.Request.ADD
        request.prompts = concept_prompts(args.texts, args.box, args.negative_box)
    elif args.verb == "remove":
        if not args.texts and not args.ids:
            raise BadArguments("name the prompts to remove: TEXT ... and/or --id ID")
        request.mode = SetPrompts.Request.REMOVE
        request.prompts = concept_prompts(args.texts)
        request.prompt_ids = list(args.ids)
    else:
        request.mode = SetPrompts.Request.REPLACE
        request.prompts = concept_prompts(args.texts)
    response = connection.call(SetPrompts, "set_prompts", request, missing_hint=UNCONFIGURED_HINT)
    if not response.success:
        raise RequestRefused(response.message)
    if response.message:
        print(response.message, file=out)
    print_prompts(response.active_prompts, out)


def concept_prompts(texts, positive_boxes=(), negative_boxes=()) -> list:
    """ConceptPrompt messages; exemplar boxes belong to a single text."""
    boxes = [(box, True) for box in positive_boxes] + [(box, False) for box in negative_boxes]
    if boxes and len(texts) != 1:
        raise BadArguments(f"exemplar boxes refine one concept: give one TEXT with --box/--negative-box, not {len(texts)}")
    prompts = [ConceptPrompt(text=text) for text in texts]
    for box, positive in boxes:
        prompts[0].exemplar_boxes.append(region_of_interest(box, "exemplar box"))
        prompts[0].exemplar_labels.append(positive)
    return prompts


def print_prompts(active_prompts, out) -> None:
    print_listing([(prompt.id, _described(prompt)) for prompt in active_prompts], "no active prompts", out)


def _described(prompt) -> str:
    return f"{prompt.text}  ({prompt.exemplar_count} exemplar boxes)" if prompt.exemplar_count else prompt.text
