"""Engine results and prompts <-> sam3_ros messages."""

from __future__ import annotations

from sensor_msgs.msg import RegionOfInterest

from sam3_ros.frame_result import FrameResult
from sam3_ros.mask_encoding import encode_mask
from sam3_ros.msg import ActivePrompt, Instance, InstanceArray, PromptStatus
from sam3_ros.prompt_registry import ExemplarBox, Prompt, PromptError, PromptRequest


def instance_array_from_result(result: FrameResult, header) -> InstanceArray:
    msg = InstanceArray()
    msg.header = header
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
