"""Start the sam3 node next to a camera driver.

    ros2 launch sam3_ros sam3.launch.py camera_topic:=/camera/color/image_raw prompts:="['person', 'forklift']"
    ros2 launch sam3_ros sam3.launch.py camera_topic:=/camera/color/image_raw use_depth:=true \
        depth_topic:=/camera/aligned_depth_to_color/image_raw depth_info_topic:=/camera/aligned_depth_to_color/camera_info

The node is a managed (lifecycle) node; autostart:=false leaves it unconfigured for a lifecycle
manager (or `ros2 lifecycle set /sam3 configure` and `activate`).

Several cameras on one model (docs/cameras.md): set `cameras` in the params_file (as in
config/sam3.yaml); each camera then reads <camera>/image in the node's namespace and publishes
~/<camera>/instances. Two cameras without a launch file:

    ros2 run sam3_ros sam3_ros --ros-args --params-file config/sam3.yaml -p "cameras:=[front, rear]" \
        -r front/image:=/front/color/image_raw -r rear/image:=/rear/color/image_raw

Fast DDS gets the package's profile for camera-sized images (config/fastdds_large_images.xml)
unless FASTDDS_DEFAULT_PROFILES_FILE is set or fastdds_profile:=... names another; the camera
driver's process needs the same profile (docs/install.md "Camera-sized images").
"""

import os
from typing import List  # noqa: UP035 - the form launch_ros documents for value_type; its Humble release is not checked with list[str]

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.substitutions import EnvironmentVariable, LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from sam3_ros.node.node_process import fastdds_profile_variables


def generate_launch_description():
    share = get_package_share_directory("sam3_ros")
    default_params = os.path.join(share, "config", "sam3.yaml")
    large_images_profile = os.path.join(share, "config", "fastdds_large_images.xml")
    arguments = [
        DeclareLaunchArgument("camera_topic", default_value="/camera/image_raw", description="sensor_msgs/Image topic to segment"),
        DeclareLaunchArgument("namespace", default_value="", description="Namespace of the sam3 node"),
        DeclareLaunchArgument("params_file", default_value=default_params, description="YAML parameters file"),
        DeclareLaunchArgument("prompts", default_value="['person']", description="Initial concepts, a YAML list of strings"),
        DeclareLaunchArgument("model", default_value="facebook/sam3", description="Hub id or local directory of the weights"),
        DeclareLaunchArgument(
            "autostart", default_value="true", description="Configure and activate at start-up (false: leave it to a lifecycle manager)"
        ),
        DeclareLaunchArgument("use_depth", default_value="false", description="Give instances 3D positions from a registered depth image"),
        DeclareLaunchArgument(
            "depth_topic",
            default_value="/camera/aligned_depth_to_color/image_raw",
            description="Depth image registered to the colour image",
        ),
        DeclareLaunchArgument(
            "depth_info_topic", default_value="/camera/aligned_depth_to_color/camera_info", description="CameraInfo of that depth image"
        ),
        DeclareLaunchArgument(
            "fastdds_profile",
            # a profile already chosen wins, also under Fast DDS's older variable name
            default_value=EnvironmentVariable(
                "FASTDDS_DEFAULT_PROFILES_FILE",
                default_value=EnvironmentVariable("FASTRTPS_DEFAULT_PROFILES_FILE", default_value=large_images_profile),
            ),
            description="Fast DDS XML profile (default: the package's 64 MB shared-memory profile for camera-sized images)",
        ),
    ]
    transport = [
        SetEnvironmentVariable(name, LaunchConfiguration("fastdds_profile"))
        for name in fastdds_profile_variables(os.environ.get("ROS_DISTRO", ""))
    ]
    node = Node(
        package="sam3_ros",
        executable="sam3_ros",
        name="sam3",
        namespace=LaunchConfiguration("namespace"),
        parameters=[
            LaunchConfiguration("params_file"),
            {
                "prompts": ParameterValue(LaunchConfiguration("prompts"), value_type=List[str]),  # noqa: UP006
                "model": LaunchConfiguration("model"),
                "autostart": ParameterValue(LaunchConfiguration("autostart"), value_type=bool),
                "use_depth": ParameterValue(LaunchConfiguration("use_depth"), value_type=bool),
            },
        ],
        remappings=[
            ("image", LaunchConfiguration("camera_topic")),
            ("depth/image", LaunchConfiguration("depth_topic")),
            ("depth/camera_info", LaunchConfiguration("depth_info_topic")),
        ],
        output="screen",
        emulate_tty=True,
    )
    return LaunchDescription(arguments + transport + [node])
