"""The `sam3` ROS 2 node: glue between camera messages, the prompt service and ConceptTracker.

Threads: the executor delivers images and service calls; one worker thread runs the model on the
newest image only. A new image replaces one still waiting (counted as dropped), so the queue never
grows, and prompt changes wait at most one frame for the engine's lock.
"""

from __future__ import annotations

import threading

import rclpy
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rcl_interfaces.msg import SetParametersResult
from sensor_msgs.msg import CompressedImage, Image

from sam3_ros.concept_tracker import ConceptTracker
from sam3_ros.debug_overlay import draw_overlay
from sam3_ros.frame_preprocessing import FrameError
from sam3_ros.image_conversion import ImageConversionError, image_msg_from_array, rgb_from_compressed_msg, rgb_from_image_msg
from sam3_ros.label_image import label_image_from_masks
from sam3_ros.message_conversion import active_prompt_msgs, instance_array_from_result, prompt_requests_from_msgs
from sam3_ros.model_loading import ModelLoadError, load_sam3
from sam3_ros.msg import InstanceArray
from sam3_ros.node_parameters import declare_parameters, read_config
from sam3_ros.prompt_registry import PromptError, PromptRequest
from sam3_ros.ros_process import spin_until_done
from sam3_ros.srv import GetPrompts, SetPrompts
from sam3_ros.tiny_model import TINY_MODEL_NAME, UNTRAINED_BANNER

_THROTTLE_S = 5.0


class Sam3Node(Node):
    def __init__(self, **kwargs):
        super().__init__("sam3", **kwargs)
        declare_parameters(self)
        self.config = read_config(self)
        self.get_logger().info(f"loading SAM 3 '{self.config.model}' on device={self.config.device} dtype={self.config.dtype}")
        model, tokenizer = load_sam3(self.config.model, self.config.device, self.config.dtype)
        self.engine = ConceptTracker(model, tokenizer, self.config.tracker)
        self._banner = UNTRAINED_BANNER if self.config.model == TINY_MODEL_NAME else ""
        if self.config.prompts:
            self.engine.replace_prompts([PromptRequest(text) for text in self.config.prompts])
        self._syncing_prompt_parameter = False
        self.add_on_set_parameters_callback(self._on_set_parameters)

        self._pending = None  # newest unprocessed image message
        self._pending_lock = threading.Lock()
        self._wake = threading.Event()
        self.frames_received = 0
        self.frames_dropped = 0
        self.frames_processed = 0

        self._instances_pub = self.create_publisher(InstanceArray, "~/instances", 10)
        self._label_pub = self.create_publisher(Image, "~/label_image", 5)
        self._debug_pub = self.create_publisher(Image, "~/debug_image", 5)
        topic, msg_type = ("image/compressed", CompressedImage) if self.config.use_compressed else ("image", Image)
        self.create_subscription(msg_type, topic, self._on_image, self.config.image_qos)
        services = MutuallyExclusiveCallbackGroup()
        self.create_service(SetPrompts, "~/set_prompts", self._on_set_prompts, callback_group=services)
        self.create_service(GetPrompts, "~/get_prompts", self._on_get_prompts, callback_group=services)

        self._running = True
        self._worker = threading.Thread(target=self._process_loop, name="sam3_inference", daemon=True)
        self._worker.start()
        prompts = ", ".join(p.text for p in self.engine.active_prompts()) or "none"
        self.get_logger().info(f"ready on '{self.resolve_topic_name(topic)}'; prompts: {prompts}")

    # -- images ----------------------------------------------------------------------------------

    def _on_image(self, msg) -> None:
        with self._pending_lock:
            self.frames_received += 1
            if self._pending is not None:
                self.frames_dropped += 1
            self._pending = msg
        self._wake.set()

    def _process_loop(self) -> None:
        while self._running:
            if not self._wake.wait(timeout=0.2):
                continue
            with self._pending_lock:
                msg, self._pending = self._pending, None
                self._wake.clear()
            if msg is not None:
                self._process(msg)

    def _process(self, msg) -> None:
        try:
            rgb = rgb_from_compressed_msg(msg) if isinstance(msg, CompressedImage) else rgb_from_image_msg(msg)
            result = self.engine.process(rgb, stamp=msg.header.stamp)
        except (ImageConversionError, FrameError) as error:
            self.get_logger().warning(f"skipping image: {error}", throttle_duration_sec=_THROTTLE_S)
            return
        except Exception as error:  # noqa: BLE001 - one bad frame must not stop the node
            self.get_logger().error(f"inference failed, frame skipped: {error!r}", throttle_duration_sec=_THROTTLE_S)
            return
        self.frames_processed += 1
        self._instances_pub.publish(instance_array_from_result(result, msg.header))
        if self.config.publish_label_image and self._label_pub.get_subscription_count() > 0:
            self._label_pub.publish(image_msg_from_array(label_image_from_masks(result), "16UC1", msg.header))
        if self.config.publish_debug_image and self._debug_pub.get_subscription_count() > 0:
            overlay = draw_overlay(rgb, result, self._banner)
            self._debug_pub.publish(image_msg_from_array(overlay, "rgb8", msg.header))

    # -- prompts ---------------------------------------------------------------------------------

    def _on_set_prompts(self, request, response):
        try:
            requests = prompt_requests_from_msgs(request.prompts)
            if request.mode == SetPrompts.Request.REPLACE:
                self.engine.replace_prompts(requests)
                response.message = "prompt set replaced"
            elif request.mode == SetPrompts.Request.ADD:
                added = self.engine.add_prompts(requests)
                response.message = f"added {len(added)} prompt(s)"
            elif request.mode == SetPrompts.Request.REMOVE:
                removed = self.engine.remove_prompts(prompt_ids=list(request.prompt_ids), texts=[p.text for p in request.prompts])
                response.message = f"removed {len(removed)} prompt(s)"
            else:
                raise PromptError(f"unknown mode {request.mode}: use REPLACE=0, ADD=1 or REMOVE=2")
            response.success = True
            self._sync_prompt_parameter()
        except PromptError as error:
            response.success = False
            response.message = str(error)
            self.get_logger().warning(f"prompt request refused: {error}")
        response.active_prompts = active_prompt_msgs(self.engine.active_prompts())
        return response

    def _on_get_prompts(self, request, response):
        response.active_prompts = active_prompt_msgs(self.engine.active_prompts())
        return response

    def _sync_prompt_parameter(self) -> None:
        """Keep the `prompts` parameter equal to the active set, so a restart or a dump keeps it."""
        texts = [p.text for p in self.engine.active_prompts()]
        self._syncing_prompt_parameter = True
        try:
            self.set_parameters([Parameter("prompts", Parameter.Type.STRING_ARRAY, texts)])
        finally:
            self._syncing_prompt_parameter = False

    def _on_set_parameters(self, parameters) -> SetParametersResult:
        """`ros2 param set /sam3 prompts "[...]"` replaces the prompt set; other parameters need a restart."""
        for parameter in parameters:
            if parameter.name == "prompts" and not self._syncing_prompt_parameter:
                try:
                    self.engine.replace_prompts([PromptRequest(text) for text in parameter.value or []])
                except PromptError as error:
                    return SetParametersResult(successful=False, reason=str(error))
            elif parameter.name != "prompts":
                return SetParametersResult(successful=False, reason=f"{parameter.name} is read at start-up; restart the node to change it")
        return SetParametersResult(successful=True)

    def destroy_node(self):
        self._running = False
        self._wake.set()
        self._worker.join(timeout=5.0)
        return super().destroy_node()


def main(args=None) -> None:
    rclpy.init(args=args)
    try:
        node = Sam3Node()
    except (ModelLoadError, ValueError) as error:
        rclpy.logging.get_logger("sam3").fatal(str(error))
        rclpy.try_shutdown()
        raise SystemExit(1) from error
    spin_until_done(node, MultiThreadedExecutor(num_threads=2))


if __name__ == "__main__":
    main()
