"""Engine results, 3D positions, prompts and health reports <-> ROS messages."""

from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Point
from sensor_msgs.msg import RegionOfInterest

from sam3_ros.engine.frame_result import FrameResult
from sam3_ros.engine.prompt_registry import ExemplarBox, Prompt, PromptError, PromptRequest
from sam3_ros.msg import ActivePrompt, Instance, InstanceArray, PromptStatus
from sam3_ros.node.health import HealthReport
from sam3_ros.outputs.depth_projection import ObjectPosition
from sam3_ros.outputs.mask_encoding import encode_mask


def instance_array_from_result(
    result: FrameResult, header, positions: dict[int, ObjectPosition] | None = None, depth_header=None
) -> InstanceArray:
    """The InstanceArray of one frame; `positions` (track id -> 3D position) come from `depth_header`'s image."""
    msg = InstanceArray()
    msg.header = header
    if depth_header is not None:
        msg.depth_header = depth_header
    msg.width, msg.height = result.width, result.height
    for tracked in result.instances:
        instance = Instance()
        instance.id = tracked.track_id
        instance.prompt_id = tracked.prompt_id
        instance.prompt_text = tracked.prompt_text
        instance.score = tracked.score
        x_min, y_min, x_max, y_max = tracked.box
        instance.box = RegionOfInterest(x_offset=x_min, y_offset=y_min, width=x_max - x_min, height=y_max - y_min)
        instance.mask_rle = encode_mask(tracked.mask).tolist()
        instance.frames_tracked = tracked.frames_tracked
        if positions and tracked.track_id in positions:
            _set_position(instance, positions[tracked.track_id])
        msg.instances.append(instance)
    for summary in result.prompts:
        msg.prompts.append(
            PromptStatus(
                id=summary.prompt_id,
                text=summary.text,
                presence_score=summary.presence_score,
                instance_count=summary.instance_count,
            )
        )
    return msg


def _set_position(instance: Instance, position: ObjectPosition) -> None:
    instance.has_position = position.valid
    instance.position = Point(x=position.centroid[0], y=position.centroid[1], z=position.centroid[2])
    instance.box_min = Point(x=position.box_min[0], y=position.box_min[1], z=position.box_min[2])
    instance.box_max = Point(x=position.box_max[0], y=position.box_max[1], z=position.box_max[2])
    instance.depth = position.depth
    instance.depth_pixels = position.pixels


def node_status_name(node_name: str) -> str:
    """The name of the node's own DiagnosticStatus on /diagnostics (`node_name` without namespace)."""
    return f"{node_name}: concept tracking"


def diagnostic_array_from_report(report: HealthReport, node_name: str, hardware_id: str, stamp) -> DiagnosticArray:
    """The node's status (node_status_name), then one per named camera ("<node>: camera <name>")."""
    statuses = [(node_status_name(node_name), report)]
    statuses += [(f"{node_name}: camera {camera}", camera_report) for camera, camera_report in report.cameras]
    array = DiagnosticArray(
        status=[
            DiagnosticStatus(
                level=bytes([int(status.level)]),
                name=name,
                message=status.message,
                hardware_id=hardware_id,
                values=[KeyValue(key=key, value=value) for key, value in status.values],
            )
            for name, status in statuses
        ]
    )
    array.header.stamp = stamp
    return array


def active_prompt_msgs(prompts: list[Prompt]) -> list[ActivePrompt]:
    return [ActivePrompt(id=p.id, text=p.text, exemplar_count=len(p.exemplars)) for p in prompts]


def prompt_requests_from_msgs(concept_prompts) -> list[PromptRequest]:
    """ConceptPrompt messages -> engine requests; raises PromptError on inconsistent exemplars."""
    requests = []
    for concept in concept_prompts:
        boxes, labels = concept.exemplar_boxes, list(concept.exemplar_labels)
        if labels and len(labels) != len(boxes):
            raise PromptError(
                f"prompt '{concept.text}' has {len(boxes)} exemplar boxes but {len(labels)} labels; "
                "give one label per box, or none for all-positive"
            )
        exemplars = tuple(
            ExemplarBox(
                float(box.x_offset),
                float(box.y_offset),
                float(box.x_offset + box.width),
                float(box.y_offset + box.height),
                positive=bool(labels[index]) if labels else True,
            )
            for index, box in enumerate(boxes)
        )
        requests.append(PromptRequest(concept.text, exemplars))
    return requests
