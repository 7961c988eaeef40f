#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite: engine tests without a ROS graph, then the
# node's end-to-end tests in a real ROS 2 graph. Extra arguments go to pytest.
# ROS_DISTRO=jazzy runs it on ROS 2 Jazzy's wheels (default: kilted), in that distro's environment.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The full torch set: the exemplar-box tests need torchvision (and fail if it is missing under this set).
export SAM3_TORCH=full
bash "$ROOT/scripts/setup.sh"
# shellcheck disable=SC1091
source "$ROOT/scripts/activate.sh"
# No test may reach the Hugging Face hub; an isolated DDS domain keeps parallel runs apart.
export HF_HUB_OFFLINE=1
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$((RANDOM % 100 + 100))}"
cd "$ROOT"
echo "[test] ROS 2 $ROS_DISTRO (rclpy $(python -c 'import importlib.metadata as m; print(m.version("ros-rclpy"))'))"
# The pytest console script, not `python -m pytest`: the latter puts the source tree first on
# sys.path, ahead of the colcon install that holds the generated messages.
exec pytest test "$@"
