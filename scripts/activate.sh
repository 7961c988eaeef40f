# Source this file (bash or zsh) after scripts/setup.sh, with the same ROS_DISTRO:
#     source scripts/activate.sh                     # ROS 2 Kilted (default)
#     ROS_DISTRO=jazzy source scripts/activate.sh    # ROS 2 Jazzy
# It activates the repo's .venv/<distro> (ROS 2 from PyPI wheels) and overlays the
# colcon install of sam3_ros (install/<distro>), so that `python -c "import rclpy, sam3_ros.msg,
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

# 0. Which distro's environment: ROS_DISTRO (kilted by default). One shell holds one.
_sam3_ros_distro="${ROS_DISTRO:-kilted}"
_sam3_ros_venv="$SAM3_ROS_ROOT/.venv/$_sam3_ros_distro"
_sam3_ros_install="$SAM3_ROS_ROOT/install/$_sam3_ros_distro"
if [ ! -f "$SAM3_ROS_ROOT/requirements-ros-$_sam3_ros_distro.txt" ]; then
  echo "[activate] ROS_DISTRO is '$_sam3_ros_distro' (a sourced ROS distro?): this repository's environments are kilted (default) and jazzy; in a shell without a ROS distro, ROS_DISTRO=kilted or jazzy" >&2
  unset _sam3_ros_distro _sam3_ros_venv _sam3_ros_install
  return 1 2>/dev/null || exit 1
fi
if [ ! -x "$_sam3_ros_venv/bin/python" ] || [ ! -f "$_sam3_ros_install/setup.bash" ]; then
  echo "[activate] ROS 2 $_sam3_ros_distro is not set up in $SAM3_ROS_ROOT yet: run  ROS_DISTRO=$_sam3_ros_distro bash scripts/setup.sh" >&2
  unset _sam3_ros_distro _sam3_ros_venv _sam3_ros_install
  return 1 2>/dev/null || exit 1
fi
case "${VIRTUAL_ENV:-}" in
  "$_sam3_ros_venv" | "") ;;
  "$SAM3_ROS_ROOT/.venv/"*)
    echo "[activate] this shell has another distro's environment ($VIRTUAL_ENV): open a new shell for ROS 2 $_sam3_ros_distro" >&2
    unset _sam3_ros_distro _sam3_ros_venv _sam3_ros_install
    return 1 2>/dev/null || exit 1 ;;
esac
export ROS_DISTRO="$_sam3_ros_distro"

# 1. The virtual environment (PATH, VIRTUAL_ENV).
# shellcheck disable=SC1091
. "$_sam3_ros_venv/bin/activate"

# 2. The venv is itself an ament prefix (the wheels register their packages in
#    .venv/<distro>/share/ament_index); put it under the colcon overlay.
case ":${AMENT_PREFIX_PATH:-}:" in
  *":$_sam3_ros_venv:"*) ;;
  *) export AMENT_PREFIX_PATH="$_sam3_ros_venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}" ;;
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
  . "$_sam3_ros_install/setup.zsh"
else
  # shellcheck disable=SC1091
  . "$_sam3_ros_install/setup.bash"
fi
[ -z "$_sam3_ros_e" ] || set -e
[ -z "$_sam3_ros_u" ] || set -u
unset _sam3_ros_e _sam3_ros_u

# 3b. The package's executables (sam3ctl, sam3_ros, footage_player, sam3-ros-annotate) on PATH,
#     where `ros2 run sam3_ros NAME` would find them; the pip environment has no `ros2`.
case ":$PATH:" in
  *":$_sam3_ros_install/sam3_ros/lib/sam3_ros:"*) ;;
  *) export PATH="$_sam3_ros_install/sam3_ros/lib/sam3_ros:$PATH" ;;
esac
unset _sam3_ros_distro _sam3_ros_venv _sam3_ros_install

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
#    makes best-effort frames above ~0.5 MB arrive only now and then (docs/install.md "Camera-sized
#    images"). Use the package's profile (64 MB segment) unless a profile is already chosen.
if [ -z "${FASTDDS_DEFAULT_PROFILES_FILE:-}" ] && [ -z "${FASTRTPS_DEFAULT_PROFILES_FILE:-}" ]; then
  # Fast DDS 3 (Kilted) reads the first; Fast DDS 2 (Jazzy) only the second, older name, which
  # Fast DDS 3 still reads but warns about on the stderr of every process.
  export FASTDDS_DEFAULT_PROFILES_FILE="$SAM3_ROS_ROOT/config/fastdds_large_images.xml"
  if [ "$ROS_DISTRO" = jazzy ]; then
    export FASTRTPS_DEFAULT_PROFILES_FILE="$FASTDDS_DEFAULT_PROFILES_FILE"
  fi
fi
