"""The node's prompt half: `~/set_prompts`, `~/get_prompts`, the `prompts` parameter and the state file.

Every change of the active set, from the service or from `ros2 param set prompts`, is mirrored
into the `prompts` parameter and written to the state file, so nothing the operator set is lost
by a cleanup, a restart or a kill. Requests are rate-limited and checked before anything changes.
"""

from __future__ import annotations

import threading
import time

from rcl_interfaces.msg import SetParametersResult
from rclpy.parameter import Parameter

from sam3_ros.engine.camera_group import CameraGroup
from sam3_ros.engine.prompt_registry import (
    PromptError,
    PromptRequest,
    check_exemplars_inside,
)
from sam3_ros.node.message_conversion import (
    active_prompt_msgs,
    prompt_requests_from_msgs,
)
from sam3_ros.node.parameters import NodeConfig
from sam3_ros.node.prompt_state_file import (
    StateFileError,
    read_prompt_state,
    write_prompt_state,
)
from sam3_ros.node.request_rate_limit import RequestRateLimiter
from sam3_ros.srv import SetPrompts

_THROTTLE_S = 5.0


class PromptService:
    """Serves the prompt set of `node.engine` (every camera's); the node creates the services and calls `configured`."""

    def __init__(self, node):
        self._node = node
        self._logger = node.get_logger()
        self._rate_limiter = RequestRateLimiter(0.0, time.monotonic())  # set at configure
        # Set only in the thread that mirrors the set into `prompts` (set_parameters runs the
        # callback in the calling thread): a change from any other thread is always applied.
        self._mirroring = threading.local()
        node.add_on_set_parameters_callback(self.on_set_parameters)

    def configured(self, engine: CameraGroup, config: NodeConfig) -> None:
        """Mirror the start set into the `prompts` parameter (the state file's, when it won) and arm the rate limit."""
        self.sync_prompt_parameter(engine)
        self._rate_limiter = RequestRateLimiter(config.max_prompt_requests_per_second, time.monotonic())

    def apply_start_prompts(self, engine: CameraGroup, config: NodeConfig) -> None:
        """The state file's prompt set if there is a usable one, else the `prompts` parameter.

        A state file that cannot be read or holds an unacceptable set is logged and passed over:
        the node must come up, and the parameter is what the operator configured. Raises
        PromptError only for a bad `prompts` parameter.
        """
        path = config.state_file
        if path:
            try:
                stored = read_prompt_state(path)
                if stored is not None:
                    engine.replace_prompts([PromptRequest(text) for text in stored])
                    self._logger.info(f"prompts restored from state file {path}: {', '.join(stored) or 'none'}")
                    return
                self._logger.info(f"state file {path} does not exist yet: prompts from the 'prompts' parameter")
            except (StateFileError, PromptError) as error:
                self._logger.error(
                    f"state file {path} not used: {error}; starting with the 'prompts' parameter instead "
                    "(the file is overwritten on the next prompt change)"
                )
        engine.replace_prompts([PromptRequest(text) for text in config.prompts])

    def on_set_prompts(self, request, response):
        engine = self._node.engine
        if engine is None:  # a call that raced a cleanup
            response.success, response.message = False, "the node is not configured"
            return response
        if not self._rate_limiter.allow(time.monotonic()):
            response.success = False
            response.message = (
                f"rate limit: more than {self._rate_limiter.rate:g} ~/set_prompts calls per second "
                "(parameter max_prompt_requests_per_second); nothing changed, try again shortly"
            )
            self._logger.warning(response.message, throttle_duration_sec=_THROTTLE_S)
            response.active_prompts = active_prompt_msgs(engine.active_prompts())
            return response
        try:
            requests = prompt_requests_from_msgs(request.prompts)
            frame_size = self._node.last_frame_size
            if frame_size is not None and request.mode != SetPrompts.Request.REMOVE:
                check_exemplars_inside(requests, *frame_size)
            if request.mode == SetPrompts.Request.REPLACE:
                engine.replace_prompts(requests)
                response.message = "prompt set replaced"
            elif request.mode == SetPrompts.Request.ADD:
                added = engine.add_prompts(requests)
                response.message = f"added {len(added)} prompt(s)"
            elif request.mode == SetPrompts.Request.REMOVE:
                removed = engine.remove_prompts(prompt_ids=list(request.prompt_ids), texts=[p.text for p in request.prompts])
                response.message = f"removed {len(removed)} prompt(s)"
            else:
                raise PromptError(f"unknown mode {request.mode}: use REPLACE=0, ADD=1 or REMOVE=2")
            response.success = True
            problem = self._prompts_changed(engine)
            if problem:
                response.message += f" (but {problem})"
        except PromptError as error:
            response.success = False
            response.message = str(error)
            self._logger.warning(f"prompt request refused: {error}")
        response.active_prompts = active_prompt_msgs(engine.active_prompts())
        return response

    def on_get_prompts(self, request, response):
        engine = self._node.engine
        response.active_prompts = active_prompt_msgs(engine.active_prompts()) if engine is not None else []
        return response

    def _prompts_changed(self, engine: CameraGroup) -> str:
        """Mirror a changed prompt set into the `prompts` parameter and the state file.

        Returns a problem to tell the caller ("" if none): the change itself stands either way.
        """
        self.sync_prompt_parameter(engine)
        return self._write_state_file(engine)

    def _write_state_file(self, engine: CameraGroup) -> str:
        config = self._node.config
        path = config.state_file if config is not None else ""
        if not path:
            return ""
        try:
            write_prompt_state(path, [p.text for p in engine.active_prompts()])
        except StateFileError as error:
            self._logger.error(f"{error}: the prompt set will not survive a restart", throttle_duration_sec=_THROTTLE_S)
            return str(error)
        return ""

    def sync_prompt_parameter(self, engine: CameraGroup) -> None:
        """Keep the `prompts` parameter equal to the active set, so a cleanup, a restart or a dump keeps it."""
        texts = [p.text for p in engine.active_prompts()]
        self._mirroring.active = True
        try:
            self._node.set_parameters([Parameter("prompts", Parameter.Type.STRING_ARRAY, texts)])
        finally:
            self._mirroring.active = False

    def on_set_parameters(self, parameters) -> SetParametersResult:
        """`prompts` replaces the prompt set at any time; the others are read at configure."""
        engine = self._node.engine
        for parameter in parameters:
            if parameter.name == "prompts":
                if engine is not None and not getattr(self._mirroring, "active", False):
                    try:
                        engine.replace_prompts([PromptRequest(text) for text in parameter.value or []])
                    except PromptError as error:
                        return SetParametersResult(successful=False, reason=str(error))
                    self._write_state_file(engine)  # the parameter itself is set when this returns
                # Unconfigured: kept, and validated when the node is configured.
            elif engine is not None:
                name = self._node.get_fully_qualified_name()
                return SetParametersResult(
                    successful=False,
                    reason=f"{parameter.name} is read at configure: deactivate and clean up the node (ros2 lifecycle set "
                    f"{name} deactivate, then cleanup), set it, then configure and activate again",
                )
        return SetParametersResult(successful=True)
