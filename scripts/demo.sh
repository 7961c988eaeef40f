#!/usr/bin/env bash
# Set up everything (first run: a few minutes) and run the demo: the sam3 node on real footage
# (bikes.mp4) with the prompts "person" and "bicycle"; writes output/demo.mp4 and output/summary.json.
# Extra arguments go to the demo, e.g.  bash scripts/demo.sh --model /path/to/sam3 --prompts person
# ROS_DISTRO=jazzy runs it on ROS 2 Jazzy's wheels (default: kilted), in that distro's environment.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# A first set-up takes the light torch set (no torchvision: exemplar boxes are refused); an existing
# environment keeps its set. SAM3_TORCH=full bash scripts/demo.sh gets torch with torchvision.
[ -n "${SAM3_TORCH:-}" ] || [ -d "$ROOT/.venv/${ROS_DISTRO:-kilted}" ] || export SAM3_TORCH=light
bash "$ROOT/scripts/setup.sh"
# shellcheck disable=SC1091
source "$ROOT/scripts/activate.sh"
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$((RANDOM % 100 + 100))}"
cd "$ROOT"
exec python -m sam3_ros.demo "$@"
