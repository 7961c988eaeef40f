"""`sam3ctl console`: the operator console, a web page served by this ROS 2 client of the node.

The ROS side (ros_bridge) runs on the main thread, where Ctrl-C is taken; the web server
(server) on a thread of its own. docs/console.md has the page's controls.
"""

from __future__ import annotations

from sam3_ros.cli.connection import Sam3Connection
from sam3_ros.cli.errors import BadArguments

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8080
DEFAULT_JPEG_QUALITY, DEFAULT_MAX_WIDTH = 80, 960


def add_arguments(subparsers, common) -> None:
    console = subparsers.add_parser(
        "console",
        parents=[common],
        help="serve the operator console, a web page: live masks per camera, prompts, click to track or refine (until Ctrl-C)",
    )
    console.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"the address to serve on (default {DEFAULT_HOST}); on any but a loopback one (127.0.0.1, localhost, ::1) "
        "the page asks for a token, printed in the URL at start",
    )
    console.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"the TCP port (default {DEFAULT_PORT}; 0: any free one)")
    console.add_argument(
        "--jpeg-quality",
        type=int,
        default=DEFAULT_JPEG_QUALITY,
        help=f"of the frames sent to browsers, 1-100 (default {DEFAULT_JPEG_QUALITY})",
    )
    console.add_argument(
        "--max-width",
        type=int,
        default=DEFAULT_MAX_WIDTH,
        help=f"frames wider than this many pixels are downscaled for the browsers (default {DEFAULT_MAX_WIDTH})",
    )


def run(args, connection: Sam3Connection, out) -> None:
    # Here, not at the top: sam3ctl's other commands start without aiohttp (0.2 s of imports).
    from sam3_ros.cli.console.access import Access
    from sam3_ros.cli.console.frames import NewestFrames
    from sam3_ros.cli.console.ros_bridge import RosBridge
    from sam3_ros.cli.console.server import ConsoleServer

    if not 0 <= args.port <= 65535:
        raise BadArguments(f"--port {args.port}: a TCP port is 0 to 65535")
    try:
        frames = NewestFrames(args.jpeg_quality, args.max_width)
    except ValueError as error:
        raise BadArguments(str(error)) from None
    access = Access.for_host(args.host)
    bridge = RosBridge(connection, frames)
    with ConsoleServer(bridge, frames, access, args.host, args.port) as server:
        bridge.on_frame = server.frame_arrived
        print(f"sam3ctl console for {connection.node_name}: {server.url}", file=out, flush=True)
        if access.token is not None:
            print("(open that address once; the token in it is the key to this console: keep it private)", file=out, flush=True)
        bridge.run()
