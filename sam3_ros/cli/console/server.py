"""The console's web server (aiohttp), on a thread and event loop of its own.

    GET  /                     the page (static/index.html; /static/console.js and console.css with it)
    GET  /api/state            cameras, their newest instances, prompts, lifecycle state, diagnostics
    GET  /api/frame?camera=C&after=STAMP
                               the newest overlay JPEG of camera C once it is not STAMP (waits up to
                               FRAME_WAIT_S, then 204); headers X-Stamp, X-Source-Width, X-Source-Height
    POST /api/prompts          {"action": "add"|"remove"|"replace", "texts": [...], "ids": [...]}
    POST /api/objects/track    {"camera", "points", "negative_points", "box", "label"}
    POST /api/objects/refine   {"track_id", "points", "negative_points", "box"}
    POST /api/objects/remove   {"track_id"}

Each browser asks for the next frame only once it has shown the last one, so it never has more
than one frame on its way, whatever its speed; nothing is queued per browser. The POSTs answer
{"ok": bool, "message": the node's text, ...}: 200 done, 409 the node refused, 400 a bad request,
503 the node or its service is not there.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from pathlib import Path

from aiohttp import web

from sam3_ros.cli.console import page_requests
from sam3_ros.cli.console.access import Access
from sam3_ros.cli.console.frames import NewestFrames
from sam3_ros.cli.console.ros_bridge import RosBridge
from sam3_ros.cli.errors import BadArguments, NodeUnreachable

STATIC = Path(__file__).with_name("static")
# Named one by one, not a folder served: nothing else on the disk can be asked for (and a colcon
# symlink install's links are served as the files they point to).
PAGE_FILES = ("index.html", "console.js", "console.css")
FRAME_WAIT_S = 10.0  # a long poll's longest wait; the page asks again at once
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 1.0  # for the requests in progress at Ctrl-C (long polls among them) to end
# POST path -> (page JSON to service request, the node's service)
ACTIONS = {
    "/api/prompts": (page_requests.set_prompts_request, "set_prompts"),
    "/api/objects/track": (page_requests.track_object_request, "track_object"),
    "/api/objects/refine": (page_requests.refine_object_request, "refine_object"),
    "/api/objects/remove": (page_requests.remove_object_request, "remove_object"),
}


@web.middleware
async def json_posts_only(request: web.Request, handler):
    """A form on another site can POST here, but not with a JSON content type (that needs CORS)."""
    if request.method == "POST" and request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(text="send JSON (Content-Type: application/json)")
    return await handler(request)


class ConsoleServer:
    """Serves the page for `bridge` and `frames` on host:port; use as a context manager."""

    def __init__(self, bridge: RosBridge, frames: NewestFrames, access: Access, host: str, port: int):
        self.bridge, self.frames, self.access = bridge, frames, access
        self.host, self.port = host, port
        self._loop = asyncio.new_event_loop()
        self._next_frame: dict[str, asyncio.Future] = {}  # camera -> resolved by its next frame
        self._started = threading.Event()
        self._start_error: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name="sam3ctl-console-web", daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/{self.access.url_query()}"

    def __enter__(self) -> ConsoleServer:
        self._thread.start()
        if not self._started.wait(START_TIMEOUT_S):
            raise RuntimeError(f"the web server did not start within {START_TIMEOUT_S:g} s")
        if self._start_error is not None:
            raise BadArguments(f"cannot serve on {self.host}:{self.port}: {self._start_error}")
        return self

    def __exit__(self, *exc_info) -> None:
        if self._loop.is_running():
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=STOP_TIMEOUT_S + 5.0)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5.0)

    def frame_arrived(self, camera: str) -> None:
        """Called on the ROS thread for every new frame: wakes the browsers waiting for one."""
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._wake, camera)

    # -- the server's thread -----------------------------------------------------------------------

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._start())
        except OSError as error:  # the port is taken, the address is not this machine's
            self._start_error = error.strerror or error
            self._started.set()
            return
        self._started.set()
        self._loop.run_forever()

    async def _start(self) -> None:
        app = web.Application(middlewares=[self.access.middleware, json_posts_only])
        app.router.add_get("/", functools.partial(self._file, "index.html"))
        for name in PAGE_FILES:
            app.router.add_get(f"/static/{name}", functools.partial(self._file, name))
        app.router.add_get("/api/state", self._state)
        app.router.add_get("/api/frame", self._frame)
        for path in ACTIONS:
            app.router.add_post(path, self._action)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=STOP_TIMEOUT_S)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]  # the one chosen, for --port 0

    def _wake(self, camera: str) -> None:
        waiting = self._next_frame.pop(camera, None)
        if waiting is not None and not waiting.done():
            waiting.set_result(None)

    @staticmethod
    async def _file(name: str, request: web.Request) -> web.StreamResponse:
        # no-store: a browser left open over an upgrade of the console gets the new page
        return web.FileResponse(STATIC / name, headers={"Cache-Control": "no-store"})

    async def _state(self, request: web.Request) -> web.Response:
        return web.json_response(self.bridge.snapshot())

    async def _frame(self, request: web.Request) -> web.Response:
        camera, shown = request.query.get("camera", ""), request.query.get("after", "")
        if camera not in self.bridge.cameras():
            return web.Response(status=404, text=f"no camera '{camera}' on {self.bridge.node_name}")
        self.frames.requested(camera)
        if self.frames.newest_stamp(camera) in (None, shown):
            waiting = self._next_frame.setdefault(camera, self._loop.create_future())
            try:
                await asyncio.wait_for(asyncio.shield(waiting), FRAME_WAIT_S)
            except asyncio.TimeoutError:
                return web.Response(status=204)
        frame = await self._loop.run_in_executor(None, self.frames.encoded, camera)
        headers = {
            "Cache-Control": "no-store",
            "X-Stamp": frame.stamp,
            "X-Source-Width": str(frame.source_width),
            "X-Source-Height": str(frame.source_height),
        }
        return web.Response(body=frame.jpeg, content_type="image/jpeg", headers=headers)

    async def _action(self, request: web.Request) -> web.Response:
        to_request, service = ACTIONS[request.path]
        try:
            body = await request.json()
        except ValueError as error:
            return web.json_response({"ok": False, "message": f"the request is not JSON: {error}"}, status=400)
        try:
            if not isinstance(body, dict):
                raise BadArguments("the request must be a JSON object")
            service_request = to_request(body)
        except BadArguments as error:
            return web.json_response({"ok": False, "message": str(error)}, status=400)
        try:
            answer = await asyncio.wrap_future(self.bridge.submit(lambda: self.bridge.call(service, service_request)))
        except NodeUnreachable as error:
            return web.json_response({"ok": False, "message": str(error)}, status=503)
        return web.json_response(answer, status=200 if answer["ok"] else 409)
