"""The visual-prompt services when the tracker itself fails on a request (an out-of-memory error on a
GPU, say): the caller gets `success: false` with the error, the engine is as before the call, and
the service keeps answering. The failure is a real exception raised inside SAM 3's tracker, which
cannot be reached inside the node's process, so the service half runs here on a node of this
process with a real engine. Each test builds its own engine and service, so they run alone and in
any order.
"""

from __future__ import annotations

import pytest
from geometry_msgs.msg import Point32
from rclpy.node import Node
from sam3_ros.srv import RefineObject, TrackObject
from sensor_msgs.msg import RegionOfInterest

from sam3_ros.engine.camera_group import CameraGroup
from sam3_ros.engine.concept_tracker import IdCounters, TrackerSettings
from sam3_ros.engine.tiny_model import build_tiny_sam3
from sam3_ros.engine.track_ids import TrackIdAllocator
from sam3_ros.node.visual_prompt_service import VisualPromptService

RIDER_BOX = RegionOfInterest(x_offset=50, y_offset=5, width=60, height=55)


class EngineNode(Node):
    """What VisualPromptService reads of the sam3 node: its engine and the depth views of the cameras' last frames."""

    def __init__(self, context, engine):
        super().__init__("visual_prompt_failures", context=context)
        self.engine = engine
        self.depth_views = {}


@pytest.fixture
def service_and_failure(ros_context, footage, out_of_memory_once):
    model, tokenizer = build_tiny_sam3()
    failure = out_of_memory_once(model)
    engine = CameraGroup(model, tokenizer, [""], TrackerSettings(), IdCounters(), TrackIdAllocator())
    engine.first.process(footage[0])
    node = EngineNode(ros_context, engine)
    yield VisualPromptService(node), failure
    node.destroy_node()


def test_a_click_the_tracker_fails_on_is_answered_and_changes_nothing(service_and_failure):
    service, failure = service_and_failure
    failure.armed = True

    failed = service.on_track_object(TrackObject.Request(box=RIDER_BOX, label="rider"), TrackObject.Response())
    tracked = service.on_track_object(TrackObject.Request(box=RIDER_BOX, label="rider"), TrackObject.Response())

    assert not failed.success and failed.track_id == 0
    assert "the tracker failed on this request, nothing changed: OutOfMemoryError" in failed.message
    assert list(failed.visual_objects) == []
    assert tracked.success and [(o.track_id, o.label) for o in tracked.visual_objects] == [(tracked.track_id, "rider")]


def test_a_refinement_the_tracker_fails_on_is_answered_and_the_object_stays(service_and_failure):
    service, failure = service_and_failure
    tracked = service.on_track_object(TrackObject.Request(box=RIDER_BOX), TrackObject.Response())
    assert tracked.success, tracked.message
    failure.armed = True

    request = RefineObject.Request(track_id=tracked.track_id, points=[Point32(x=90.0, y=20.0)])
    failed = service.on_refine_object(request, RefineObject.Response())
    refined = service.on_refine_object(request, RefineObject.Response())

    assert not failed.success
    assert "the tracker failed on this request, nothing changed: OutOfMemoryError" in failed.message, failed.message
    assert [o.track_id for o in failed.visual_objects] == [tracked.track_id]
    assert refined.success, refined.message
    assert [o.track_id for o in refined.visual_objects] == [tracked.track_id]
