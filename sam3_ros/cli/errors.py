"""What can go wrong for an operator, each with its own exit status (main.py)."""


class BadArguments(Exception):
    """The command line asks for something impossible (exit status 2, as argparse's own errors)."""


class RequestRefused(Exception):
    """The node answered, and said no; the message says why (exit status 1)."""


class NodeUnreachable(Exception):
    """The node, or the service asked for, is not there or did not answer in time (exit status 3)."""
