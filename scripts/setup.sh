#!/usr/bin/env bash
# Set up a development environment for sam3_ros without a ROS distro, for one ROS 2 distro
# (ROS_DISTRO=kilted, the default, or jazzy; each has its own environment, side by side):
#   1. create .venv/<distro> (repo root) with the machine's python3 (3.11 or newer),
#   2. pip-install requirements.txt, requirements-build.txt and requirements-ros-<distro>.txt
#      (ROS 2 comes from PyPI wheels), then requirements-no-deps.txt without dependencies,
#   3. correct the include paths baked into the wheels' exported CMake targets,
#   4. build this package (msg/srv + Python code) with colcon into
#      build/<distro> install/<distro> log/<distro> at the repo root.
# Idempotent; a second run only re-checks and does an incremental build.
# Afterwards:  source scripts/activate.sh   (with the same ROS_DISTRO)
#
# Environment knobs: ROS_DISTRO (kilted or jazzy, default kilted), PYTHON (interpreter used to
# create the venv, default python3), SAM3_SKIP_BUILD=1 (stop after the venv is ready),
# SAM3_TORCH (see "torch set" below).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

# --- 0. which ROS 2 distro ------------------------------------------------------
DISTRO="${ROS_DISTRO:-kilted}"
[ -f "requirements-ros-$DISTRO.txt" ] \
  || die "ROS_DISTRO=$DISTRO: PyPI has ROS 2 wheels for kilted (default) and jazzy only; for another distro build with colcon in its workspace (docs/install.md, \"With a ROS 2 distro\")"
VENV="$ROOT/.venv/$DISTRO"
# The single-distro layout of earlier versions (.venv itself a venv, install/setup.bash) is
# replaced by one environment per distro.
if [ -f "$ROOT/.venv/pyvenv.cfg" ] || [ -f "$ROOT/install/setup.bash" ]; then
  say "removing the single-distro environment of an earlier version (.venv build install log)"
  rm -rf "$ROOT/.venv" "$ROOT/build" "$ROOT/install" "$ROOT/log"
fi
say "ROS 2 $DISTRO: .venv/$DISTRO, install/$DISTRO"

# Run a noisy command quietly; show its output only when it fails.
quiet() {
  local log
  log="$(mktemp)"
  if ! "$@" >"$log" 2>&1; then
    grep -v 'is ignored: it is neither a file nor a directory' "$log" | tail -n 60 >&2
    rm -f "$log"
    die "command failed: $*"
  fi
  rm -f "$log"
}

# --- 1. virtual environment ---------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  command -v "$PYTHON" >/dev/null 2>&1 || die "'$PYTHON' not found; Python 3.11 or newer is required (set PYTHON=/path/to/python3.11)"
  if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
    die "$("$PYTHON" -V 2>&1) is too old: Python 3.11 or newer is required (set PYTHON=/path/to/python3.11)"
  fi
  say "creating .venv/$DISTRO with $("$PYTHON" -V 2>&1) ($(command -v "$PYTHON"))"
  mkdir -p "$ROOT/.venv"
  "$PYTHON" -m venv "$VENV" || die "could not create .venv/$DISTRO (on Debian: apt-get install python3-venv)"
fi
VPY="$VENV/bin/python"
"$VPY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
  || die ".venv/$DISTRO uses $("$VPY" -V 2>&1); Python 3.11 or newer is required (remove .venv/$DISTRO and set PYTHON)"
PYVER="$("$VPY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [ "$PYVER" != "3.11" ]; then
  say "warning: .venv/$DISTRO uses Python $PYVER; the pinned torch wheels of this workplace are for 3.11 only"
fi

# --- torch set ----------------------------------------------------------------
# SAM3_TORCH=full: requirements-torch.txt, torch with torchvision (exemplar boxes; what the tests
# run). SAM3_TORCH=light: requirements-torch-light.txt, a CPU-only torch without torchvision (the
# demo's first set-up). Unset: the set this .venv already has, else full.
TORCH_SET_FILE="$VENV/.sam3_ros_torch"
TORCH_SET="${SAM3_TORCH:-$(cat "$TORCH_SET_FILE" 2>/dev/null || echo full)}"
case "$TORCH_SET" in
  full) TORCH_REQUIREMENTS=requirements-torch.txt ;;
  light) TORCH_REQUIREMENTS=requirements-torch-light.txt ;;
  *) die "SAM3_TORCH=$TORCH_SET: use full (torch with torchvision) or light (CPU-only torch, no exemplar boxes)" ;;
esac

# --- 2. Python packages -------------------------------------------------------
# Skipped when the requirement files, the torch set and the interpreter are unchanged since the
# last successful install.
STAMP="$VENV/.sam3_ros_requirements"
REQUIREMENTS=(requirements.txt requirements-build.txt "requirements-ros-$DISTRO.txt" "$TORCH_REQUIREMENTS")
want="$(cat requirements-runtime.txt "${REQUIREMENTS[@]}" requirements-no-deps.txt; echo "torch set: $TORCH_SET"; "$VPY" -VV)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$want" ]; then
  say "installing Python packages (${REQUIREMENTS[*]}) ..."
  # Byte-compiled at install (not --no-compile, which would save ~35 s of CPU here): where
  # PYTHONDONTWRITEBYTECODE is set (as on this workplace's machines), Python would otherwise compile torch and
  # transformers again in every process, and every test node's start-up takes twice as long.
  quiet "$VPY" -m pip install --disable-pip-version-check \
    "${REQUIREMENTS[@]/#/-r}"
  quiet "$VPY" -m pip install --disable-pip-version-check --no-deps -r requirements-no-deps.txt
  if [ "$TORCH_SET" = light ] && "$VPY" -m pip show --quiet torchvision >/dev/null 2>&1; then
    # left from the full set: it would not load beside the light torch, yet transformers would see it
    quiet "$VPY" -m pip uninstall --disable-pip-version-check --yes torchvision
  fi
  printf '%s' "$TORCH_SET" >"$TORCH_SET_FILE"
  printf '%s' "$want" >"$STAMP"
else
  say "Python packages already installed (torch set: $TORCH_SET)"
fi

# --- 3. quirk: exported CMake targets name the wheel builder's include folders
# The wheels' *Export.cmake files list /opt/python/cpXY-cpXY/include/pythonX.Y
# and /opt/python/.../site-packages/numpy/_core/include as include folders, and
# CMake refuses to generate while they do not exist. Point them at this venv's
# interpreter headers and numpy headers instead (no root, /opt untouched).
"$VPY" - "$VENV" <<'PY'
import pathlib, re, sys, sysconfig
import numpy

venv = pathlib.Path(sys.argv[1])
py_inc = sysconfig.get_paths()["include"]
np_inc = numpy.get_include()
if not pathlib.Path(py_inc, "Python.h").is_file():
    sys.exit(f"[setup] ERROR: Python headers not found in {py_inc} "
             "(on Debian: apt-get install python3-dev)")
numpy_re = re.compile(r"/opt/python/cp3\d+-cp3\d+/lib/python3\.\d+/site-packages/numpy/(?:_core|core)/include")
python_re = re.compile(r"/opt/python/cp3\d+-cp3\d+/include/python3\.\d+")
fixed = 0
for path in (venv / "share").glob("*/cmake/*.cmake"):
    text = path.read_text()
    if "/opt/python/" not in text:
        continue
    new = python_re.sub(lambda m: py_inc, numpy_re.sub(lambda m: np_inc, text))
    if "/opt/python/" in new:
        left = sorted(set(re.findall(r"/opt/python/[^;\"\s)]*", new)))
        sys.exit(f"[setup] ERROR: unknown builder path(s) in {path}: {left}")
    path.write_text(new)
    fixed += 1
if fixed:
    print(f"[setup] rewrote builder include paths in {fixed} CMake export file(s) "
          f"-> {py_inc}, {np_inc}")
PY

if [ "${SAM3_SKIP_BUILD:-0}" = "1" ]; then
  say "SAM3_SKIP_BUILD=1: not building"
  exit 0
fi

# --- 4. build with colcon -----------------------------------------------------
command -v cmake >/dev/null 2>&1 || die "cmake not found (apt-get install cmake)"
command -v c++ >/dev/null 2>&1 || die "a C/C++ compiler is needed (apt-get install build-essential)"

say "building sam3_ros with colcon ..."
start=$SECONDS
ros_ld_path="$("$VPY" -c 'import ros_wheels_bootstrapper as b; print(b.get_ros_paths())')"
# colcon symlink-installs: install/<distro> links back to sam3_ros/*.py, scripts/, launch/
# and config/, so edits to existing files need no rebuild (new files do).
(
  export PATH="$VENV/bin:$PATH"
  export VIRTUAL_ENV="$VENV"
  export AMENT_PREFIX_PATH="$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
  export CMAKE_PREFIX_PATH="$VENV${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
  export LD_LIBRARY_PATH="$ros_ld_path"
  export _ROS_WHEELS_BOOTSTRAP_COMPLETE=1
  quiet "$VENV/bin/colcon" --log-base "log/$DISTRO" build \
    --base-paths "$ROOT" \
    --build-base "build/$DISTRO" --install-base "install/$DISTRO" \
    --symlink-install \
    --cmake-args \
      "-DCMAKE_PREFIX_PATH=$VENV" \
      "-DPython3_EXECUTABLE=$VPY" \
      -DCMAKE_BUILD_TYPE=Release \
      -DBUILD_TESTING=OFF
)
# A symlink install keeps links to sources that were moved or deleted since an earlier build;
# such a stale module could shadow the real one.
find "$ROOT/install/$DISTRO" -xtype l -delete
say "built in $((SECONDS - start)) s -> install/$DISTRO"
if [ "$DISTRO" = kilted ]; then
  say "done; now run:  source scripts/activate.sh"
else
  say "done; now run:  ROS_DISTRO=$DISTRO source scripts/activate.sh"
fi
