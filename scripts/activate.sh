# Source this file (bash or zsh) after scripts/setup.sh:
#     source scripts/activate.sh
# It activates the repo's .venv (ROS 2 Kilted from PyPI wheels) and overlays the
# colcon install of sam3_ros, so that `python -c "import rclpy, sam3_ros.msg,
# sam3_ros.srv"` works and nodes can publish/subscribe sam3_ros types.
# Safe to source more than once and from any directory; works under `set -eu`.

if [ -n "${BASH_VERSION:-}" ]; then
  _sam3_ros_here="${BASH_SOURCE[0]}"
elif [ -n "${ZSH_VERSION:-}" ]; then
  _sam3_ros_here="${(%):-%x}"
else
  _sam3_ros_here="${SAM3_ROS_ROOT:+$SAM3_ROS_ROOT/scripts/activate.sh}"
fi
if [ -z "${_sam3_ros_here}" ]; then
  echo "[activate] cannot locate this script; set SAM3_ROS_ROOT to the repo root" >&2
  return 1 2>/dev/null || exit 1
fi
SAM3_ROS_ROOT="$(cd "$(dirname "${_sam3_ros_here}")/.." && pwd)"
export SAM3_ROS_ROOT
unset _sam3_ros_here

if [ ! -x "$SAM3_ROS_ROOT/.venv/bin/python" ] || [ ! -f "$SAM3_ROS_ROOT/install/setup.bash" ]; then
  echo "[activate] $SAM3_ROS_ROOT is not set up yet: run  bash scripts/setup.sh" >&2
  return 1 2>/dev/null || exit 1
fi

# 1. The virtual environment (PATH, VIRTUAL_ENV).
# shellcheck disable=SC1091
. "$SAM3_ROS_ROOT/.venv/bin/activate"

# 2. The venv is itself an ament prefix (the wheels register their packages in
#    .venv/share/ament_index); put it under the colcon overlay.
case ":${AMENT_PREFIX_PATH:-}:" in
  *":$SAM3_ROS_ROOT/.venv:"*) ;;
  *) export AMENT_PREFIX_PATH="$SAM3_ROS_ROOT/.venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}" ;;
esac

# 3. The colcon install of this package: PYTHONPATH (sam3_ros, sam3_ros.msg,
#    sam3_ros.srv), LD_LIBRARY_PATH (its typesupport libraries),
#    AMENT_PREFIX_PATH, PATH. colcon's scripts are not `set -eu` safe: relax
#    those options while sourcing them, then restore the caller's.
case "$-" in *u*) _sam3_ros_u=1 ;; *) _sam3_ros_u= ;; esac
case "$-" in *e*) _sam3_ros_e=1 ;; *) _sam3_ros_e= ;; esac
set +eu
if [ -n "${ZSH_VERSION:-}" ]; then
  # shellcheck disable=SC1091
  . "$SAM3_ROS_ROOT/install/setup.zsh"
else
  # shellcheck disable=SC1091
  . "$SAM3_ROS_ROOT/install/setup.bash"
fi
[ -z "$_sam3_ros_e" ] || set -e
[ -z "$_sam3_ros_u" ] || set -u
unset _sam3_ros_e _sam3_ros_u

# 4. Libraries of the ROS wheels. Any python of the venv re-executes itself once
#    with these (ros_wheels_bootstrapper's .pth file); exporting them here
#    saves that re-exec and lets non-Python tools find the libraries too.
LD_LIBRARY_PATH="$(_ROS_WHEELS_BOOTSTRAP_COMPLETE=1 python -c '
import os, ros_wheels_bootstrapper as b
old = [p for p in os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep) if p]
new = sorted(p for p in b.get_ros_paths().split(os.pathsep) if p and p not in old)
print(os.pathsep.join(old + new))')"
export LD_LIBRARY_PATH
export _ROS_WHEELS_BOOTSTRAP_COMPLETE=1

# 5. Camera-sized images between processes: Fast DDS's default 512 KB shared-memory segment
#    makes best-effort frames above ~0.5 MB arrive only now and then (README "Camera-sized
#    images"). Use the package's profile (64 MB segment) unless a profile is already chosen.
if [ -z "${FASTDDS_DEFAULT_PROFILES_FILE:-}" ] && [ -z "${FASTRTPS_DEFAULT_PROFILES_FILE:-}" ]; then
  export FASTDDS_DEFAULT_PROFILES_FILE="$SAM3_ROS_ROOT/config/fastdds_large_images.xml"
fi
