"""`sam3ctl lifecycle get|set`: the node's managed lifecycle, as `ros2 lifecycle get|set` does it."""

from __future__ import annotations

from lifecycle_msgs.srv import ChangeState, GetAvailableTransitions, GetState

from sam3_ros.cli.connection import Sam3Connection
from sam3_ros.cli.errors import RequestRefused

TRANSITIONS = ("configure", "activate", "deactivate", "cleanup", "shutdown")


def add_arguments(subparsers, common) -> None:
    lifecycle = subparsers.add_parser("lifecycle", help="get or change the node's lifecycle state")
    verbs = lifecycle.add_subparsers(dest="verb", required=True, metavar="VERB")
    verbs.add_parser("get", parents=[common], help="the current state")
    change = verbs.add_parser(
        "set", parents=[common], help="a transition; configure and activate wait until done (configure loads the model)"
    )
    change.add_argument("transition", choices=TRANSITIONS)


def run(args, connection: Sam3Connection, out) -> None:
    if args.verb == "get":
        state = current_state(connection)
        print(f"{state.label} [{state.id}]", file=out)
        return
    available = connection.call(
        GetAvailableTransitions, "get_available_transitions", GetAvailableTransitions.Request()
    ).available_transitions
    matching = [t for t in available if t.transition.label == args.transition]
    if not matching:
        state = current_state(connection)
        possible = ", ".join(sorted({t.transition.label for t in available})) or "none"
        raise RequestRefused(f"cannot {args.transition} from '{state.label}'; possible now: {possible}")
    chosen = matching[0]
    request = ChangeState.Request()
    request.transition.id = chosen.transition.id
    request.transition.label = chosen.transition.label
    response = connection.call(ChangeState, "change_state", request, answer_timeout=None)
    # The described goal is the transition's intermediate state (configuring, ...); ask where it ended.
    reached = "finalized" if response.success and args.transition == "shutdown" else current_state(connection).label
    if not response.success:
        raise RequestRefused(f"{args.transition} failed; the node is '{reached}' (its log and /diagnostics say why)")
    print(f"{chosen.start_state.label} -> {reached}", file=out)


def current_state(connection: Sam3Connection):
    return connection.call(GetState, "get_state", GetState.Request()).current_state
