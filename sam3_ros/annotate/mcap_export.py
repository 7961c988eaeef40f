"""Annotation results as an MCAP recording of the live node's sam3_ros/InstanceArray messages.

The bytes of each message are rclpy's own CDR serialisation, exactly what the node publishes, and
the schema is the full ros2msg definition that ROS 2 bags store, so Foxglove, rosbags and
mcap-ros2-support decode the file without the sam3_ros package. Each message is logged at its
source frame's stamp (log time = publish time = header stamp).
"""

from __future__ import annotations

from pathlib import Path

from builtin_interfaces.msg import Time
from mcap.writer import Writer
from rclpy.serialization import serialize_message
from std_msgs.msg import Header

from sam3_ros.annotate.journal import JournalEntry
from sam3_ros.annotate.message_definitions import full_message_definition
from sam3_ros.node.message_conversion import instance_array_from_result

INSTANCES_TOPIC = "/sam3/instances"  # where the live node (named sam3) publishes ~/instances
INSTANCE_ARRAY_TYPE = "sam3_ros/msg/InstanceArray"


class InstanceMcapWriter:
    def __init__(self, path: Path):
        self._file = path.open("wb")
        self._writer = Writer(self._file)
        self._writer.start(profile="ros2", library="sam3_ros")
        schema = self._writer.register_schema(
            name=INSTANCE_ARRAY_TYPE, encoding="ros2msg", data=full_message_definition(INSTANCE_ARRAY_TYPE).encode()
        )
        self._channel = self._writer.register_channel(topic=INSTANCES_TOPIC, message_encoding="cdr", schema_id=schema)

    def write(self, entry: JournalEntry) -> None:
        sec, nanosec = divmod(entry.stamp_ns, 1_000_000_000)
        header = Header(stamp=Time(sec=sec, nanosec=nanosec), frame_id=entry.frame_id)
        data = serialize_message(instance_array_from_result(entry.result, header))
        self._writer.add_message(self._channel, log_time=entry.stamp_ns, publish_time=entry.stamp_ns, data=data, sequence=entry.frame)

    def close(self) -> None:
        self._writer.finish()
        self._file.close()
