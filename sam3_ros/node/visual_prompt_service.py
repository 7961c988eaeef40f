"""The node's visual-prompt half: `~/track_object`, `~/refine_object` and `~/remove_object`, and RViz's clicked points (`clicked_point`, with depth).

Clicks and boxes are in pixels of the most recent processed image; the engine applies them
between two frames (it holds its lock), so they never interleave with a frame in progress. Visual
objects refer to one frame and are not kept in the state file. With several cameras a new object
starts on the camera the request names, a clicked point on the camera whose depth frame it is in;
refinement and removal find the object's camera by its track id.
"""

from __future__ import annotations

from dataclasses import dataclass

from sam3_ros.engine.visual_prompts import DEFAULT_MAX_POINTS, Click, VisualPrompt, VisualPromptError, check_point_count
from sam3_ros.msg import VisualObject
from sam3_ros.outputs.depth_projection import PinholeIntrinsics, colour_pixel_of_point


@dataclass(frozen=True)
class DepthView:
    """The depth camera of the most recent processed frame: where a clicked 3D point lands in its colour image."""

    frame_id: str
    intrinsics: PinholeIntrinsics
    depth_shape: tuple[int, int]  # height, width
    colour_shape: tuple[int, int]


def visual_prompt_from_request(request, max_points: int) -> VisualPrompt:
    """The clicks and box of a TrackObject or RefineObject request; raises VisualPromptError.

    A request of more than `max_points` points (parameter max_points_per_request) is refused here,
    before the engine sees it.
    """
    check_point_count(len(request.points), max_points)
    points, positive = list(request.points), list(request.positive)
    if positive and len(positive) != len(points):
        raise VisualPromptError(f"{len(positive)} 'positive' flags for {len(points)} points: send one per point, or none")
    clicks = tuple(Click(p.x, p.y, positive[i] if positive else True) for i, p in enumerate(points))
    roi = request.box
    box = None
    if roi.width or roi.height:
        box = (float(roi.x_offset), float(roi.y_offset), float(roi.x_offset + roi.width), float(roi.y_offset + roi.height))
    return VisualPrompt(clicks, box)


class VisualPromptService:
    """Serves visual objects of `node.engine`; the node creates the services."""

    def __init__(self, node):
        self._node = node
        self._logger = node.get_logger()

    def track(self, prompt: VisualPrompt, label: str, camera: str) -> int:
        """Start a visual object on `camera` ("" on a node with one camera); raises VisualPromptError."""
        engine = self._engine()
        track_id = engine.track_object(prompt, label, camera)
        on_camera, label = engine.visual_objects()[track_id]
        self._logger.info(f"tracking visual object {track_id} ('{label}')" + (f" on camera '{on_camera}'" if on_camera else ""))
        return track_id

    def on_track_object(self, request, response):
        def track():
            response.track_id = self.track(visual_prompt_from_request(request, self._max_points()), request.label, request.camera)
            return f"tracking object {response.track_id}"

        return self._answer(response, track)

    def on_refine_object(self, request, response):
        def refine():
            self._engine().refine_object(request.track_id, visual_prompt_from_request(request, self._max_points()))
            return f"object {request.track_id} refined"

        return self._answer(response, refine)

    def on_remove_object(self, request, response):
        def remove():
            self._engine().remove_object(request.track_id)
            return f"object {request.track_id} removed"

        return self._answer(response, remove)

    def on_clicked_point(self, msg) -> None:
        """Track the object under a clicked 3D point (geometry_msgs/PointStamped, RViz's "Publish Point")."""
        try:
            cameras = self._engine().trackers
            views = {camera: view for camera, view in self._node.depth_views.items() if camera in cameras}
            if not views:
                raise VisualPromptError("no image with depth has been processed yet")
            camera = next((camera for camera, view in views.items() if view.frame_id == msg.header.frame_id), None)
            if camera is None:
                frames = " or ".join(f"'{view.frame_id}'" for view in views.values())
                raise VisualPromptError(
                    f"it is in frame '{msg.header.frame_id}', but only the depth camera's optical frame {frames} "
                    "is accepted (the node does no TF lookup): set RViz's fixed frame to it, or call ~/track_object with pixels"
                )
            view = views[camera]
            try:
                x, y = colour_pixel_of_point((msg.point.x, msg.point.y, msg.point.z), view.intrinsics, view.depth_shape, view.colour_shape)
            except ValueError as error:
                raise VisualPromptError(str(error)) from error
            self.track(VisualPrompt((Click(x, y),)), "", camera)
        except VisualPromptError as error:
            self._logger.warning(f"clicked point ignored: {error}")
        except Exception as error:  # noqa: BLE001 - a failed click must not end the node; the engine rolled it back
            self._logger.error(f"clicked point failed in the tracker, nothing changed: {type(error).__name__}: {error}")

    def _max_points(self) -> int:
        """The parameter max_points_per_request of the node's configuration; its default when the
        node has none (a call that raced a cleanup, which `_engine` then refuses, or a node object
        that carries only an engine)."""
        config = getattr(self._node, "config", None)
        return DEFAULT_MAX_POINTS if config is None else config.max_points_per_request

    def _engine(self):
        engine = self._node.engine
        if engine is None:  # a call that raced a cleanup
            raise VisualPromptError("the node is not configured")
        return engine

    def _answer(self, response, change):
        try:
            response.message = change()
            response.success = True
        except VisualPromptError as error:
            response.success, response.message = False, str(error)
            self._logger.warning(f"visual prompt refused: {error}")
        except Exception as error:  # noqa: BLE001 - a failed call must not end the node; the engine rolled it back
            response.success = False
            response.message = f"the tracker failed on this request, nothing changed: {type(error).__name__}: {error}"
            self._logger.error(response.message)
        engine = self._node.engine
        objects = engine.visual_objects() if engine is not None else {}
        response.visual_objects = [
            VisualObject(track_id=track_id, label=label, camera=camera) for track_id, (camera, label) in objects.items()
        ]
        return response
