"""pip install of the Python side (the engine, without the generated msg/srv).

`pip install .` gives `sam3_ros.engine.concept_tracker` and friends to scripts and notebooks that use the
engine without ROS. The ROS package itself (messages, node, launch) is built with colcon from
package.xml and CMakeLists.txt; see README.md and docs/.
"""

from pathlib import Path

from setuptools import find_packages, setup


def _requirements(name: str) -> list[str]:
    return [line.split("#")[0].strip() for line in Path(__file__).with_name(name).read_text().splitlines() if line.split("#")[0].strip()]


setup(
    name="sam3_ros",
    version="0.2.0",
    description="Open-vocabulary, tracked instance segmentation with SAM 3 for ROS 2",
    license="Apache-2.0",
    packages=find_packages(include=["sam3_ros", "sam3_ros.*"]),
    # model:=tiny-synthetic (sam3_ros.engine.model_loading.PACKAGED_MODELS) and the page of `sam3ctl console`;
    # colcon installs the whole folder anyway
    package_data={"sam3_ros": ["models/*/*", "cli/console/static/*"]},
    python_requires=">=3.11",
    install_requires=_requirements("requirements-runtime.txt"),
    extras_require={"fleet": _requirements("requirements-fleet.txt")},
    # The tools use sam3_ros/ messages, so they also need the colcon-built package (sam3_ros.msg)
    # and rclpy on the path; `ros2 run sam3_ros sam3-ros-annotate`, `sam3-ros-annotate-fleet` and
    # `sam3ctl` are the same tools in a ROS workspace.
    entry_points={
        "console_scripts": [
            "sam3-ros-annotate = sam3_ros.annotate.cli:main",
            "sam3-ros-annotate-fleet = sam3_ros.annotate.fleet:main",  # needs the [fleet] extra (Ray)
            "sam3ctl = sam3_ros.cli.main:main",
        ]
    },
)
