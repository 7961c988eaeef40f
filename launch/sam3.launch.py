"""Start the sam3 node next to a camera driver.

    ros2 launch sam3_ros sam3.launch.py camera_topic:=/camera/color/image_raw prompts:="['person', 'forklift']"
"""

import os
from typing import List

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue


def generate_launch_description():
    default_params = os.path.join(get_package_share_directory("sam3_ros"), "config", "sam3.yaml")
    arguments = [
        DeclareLaunchArgument("camera_topic", default_value="/camera/image_raw", description="sensor_msgs/Image topic to segment"),
        DeclareLaunchArgument("namespace", default_value="", description="Namespace of the sam3 node"),
        DeclareLaunchArgument("params_file", default_value=default_params, description="YAML parameters file"),
        DeclareLaunchArgument("prompts", default_value="['person']", description="Initial concepts, a YAML list of strings"),
        DeclareLaunchArgument("model", default_value="facebook/sam3", description="Hub id or local directory of the weights"),
    ]
    node = Node(
        package="sam3_ros",
        executable="sam3_ros",
        name="sam3",
        namespace=LaunchConfiguration("namespace"),
        parameters=[
            LaunchConfiguration("params_file"),
            {
                "prompts": ParameterValue(LaunchConfiguration("prompts"), value_type=List[str]),
                "model": LaunchConfiguration("model"),
            },
        ],
        remappings=[("image", LaunchConfiguration("camera_topic"))],
        output="screen",
        emulate_tty=True,
    )
    return LaunchDescription(arguments + [node])
