#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite, as CI does:
#   lint     ruff check and ruff format --check (ruff.toml);
#   kilted   every test in the ROS 2 Kilted environment: those that need no ROS (engine, outputs,
#            node policies, speed, synthetic scenes, import contracts), the fleet tool on Ray
#            (test/fleet/) and test/ros/ (the node in a real ROS 2 graph, the annotate tool,
#            message conversion);
#   jazzy    test/ros/ again in the ROS 2 Jazzy environment.
# The two distros run side by side, each set up, then its tests in pytest-xdist workers
# (SAM3_TEST_WORKERS, default 3 where every test runs, 2 for Jazzy's test/ros/), then its tests
# marked `serial` (the soak, which measures the node's memory over thousands of frames) one at a
# time.
# The order is random, its seed from the commit (SAM3_TEST_SEED=N repeats another run's order;
# pytest prints it). Each part's log is printed when all are done; the last lines are one summary
# per part.
#
#   ROS_DISTRO=jazzy bash scripts/test.sh          one distro only (every test, in its environment)
#   bash scripts/test.sh test/ros/node/test_cli.py -k refusal    a pytest command of your own, in
#                                                  ROS_DISTRO's environment (default kilted)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# The full torch set: the exemplar-box tests need torchvision (and fail if it is missing under this set).
export SAM3_TORCH=full
# No test may reach the Hugging Face hub.
export HF_HUB_OFFLINE=1

say() { printf '[test] %s\n' "$*"; }

# One pytest run in DISTRO's environment, in a subshell (one distro per shell); extra arguments go to pytest.
run_pytest() {
  local distro=$1
  shift
  (
    # shellcheck disable=SC1091
    ROS_DISTRO="$distro" source "$ROOT/scripts/activate.sh"
    say "ROS 2 $distro (rclpy $(python -c 'import importlib.metadata as m; print(m.version("ros-rclpy"))'))"
    # The pytest console script, not `python -m pytest`: the latter puts the source tree first on
    # sys.path, ahead of the colcon install that holds the generated messages.
    pytest "$@"
  )
}

if [ $# -gt 0 ]; then
  DISTRO="${ROS_DISTRO:-kilted}"
  ROS_DISTRO="$DISTRO" bash "$ROOT/scripts/setup.sh"
  run_pytest "$DISTRO" "$@"
  exit
fi

# The seed of the test order: the commit's, so that a failure in CI is reproducible.
SEED="${SAM3_TEST_SEED:-$(git -C "$ROOT" rev-parse --short=8 HEAD 2>/dev/null | sed 's/^/0x/' || true)}"
SEED="${SEED:+$((SEED))}"
if [ -n "${ROS_DISTRO:-}" ]; then
  DISTROS=("$ROS_DISTRO")
else
  DISTROS=(kilted jazzy)
fi
# Workers per distro: 3 for the first (every test), 2 for the second (test/ros/, half as many):
# run at once, the two distros keep both cores busy while one's tests wait on ROS discovery and
# node start-ups.
WORKERS_FIRST="${SAM3_TEST_WORKERS:-3}"
WORKERS_OTHER="${SAM3_TEST_WORKERS:-2}"
# Each part's workers get ROS domain ids BASE+0, BASE+1, ... (test/ros/node/conftest.py); the base
# is random, so that two test runs on one machine are unlikely to meet.
BASE=$((20 + RANDOM % 6 * 10))
PYTEST_ARGS=(--dist loadfile --durations=25 -q ${SEED:+"--randomly-seed=$SEED"})

say "test order: random, --randomly-seed=${SEED:-random} (SAM3_TEST_SEED=N repeats an order)"
LOGS="$(mktemp -d)"
trap 'rm -rf "$LOGS"' EXIT
# With two distros every part's log is written quietly and printed once all parts are done; a line
# says when each part ends.
SHOW=shown
[ ${#DISTROS[@]} -eq 1 ] || SHOW=quiet

summary_of() {  # the closing line of a pytest log ('1 failed, 234 passed, 50 warnings in 376.51s'; -q drops the ='s)
  local line
  line=$(grep -E '^(=+ )?([0-9]+ [a-z]+(, )?)+ in [0-9.]+s|no tests ran' "$1" | tail -n 1 | sed -E 's/^=+ //; s/ =+$//')
  echo "${line:-no pytest summary}"
}

# Write STATUS and SUMMARY for STEP (setup, lint, parallel, serial) of a distro.
finished() {
  local step=$1 code=$2 summary=$3
  echo "$code" >"$LOGS/$step.status"
  echo "$summary" >"$LOGS/$step.summary"
  [ "$SHOW" = shown ] || say "$summary"
}

# A command's output into LOG, shown as it goes or only written.
logged() {
  local log=$1
  shift
  if [ "$SHOW" = quiet ]; then "$@" >"$log" 2>&1; else "$@" 2>&1 | tee "$log"; return "${PIPESTATUS[0]}"; fi
}

lint() {
  (
    # shellcheck disable=SC1091
    ROS_DISTRO="${DISTROS[0]}" source "$ROOT/scripts/activate.sh"
    ruff check . && ruff format --check .
  )
}

# One part of the run in DISTRO's environment (its ROS domain ids from the distro's INDEX): the
# parallel tests in xdist workers, or the `serial` ones (the soak) one after the other.
run_part() {
  local index=$1 part=$2 distro targets args code=0 start=$SECONDS
  distro="${DISTROS[$index]}"
  targets=(test)
  [ "$index" -eq 0 ] || targets=(test/ros)
  if [ "$part" = parallel ]; then
    args=(-m "not serial" -n "$([ "$index" -eq 0 ] && echo "$WORKERS_FIRST" || echo "$WORKERS_OTHER")" "${PYTEST_ARGS[@]}")
  else
    args=(-m serial -p no:xdist --durations=0 -q ${SEED:+"--randomly-seed=$SEED"})
  fi
  SAM3_TEST_ROS_DOMAIN_ID=$((BASE + 10 * index)) logged "$LOGS/$distro-$part.log" \
    run_pytest "$distro" "${targets[@]}" "${args[@]}" || code=$?
  finished "$distro-$part" "$code" "$distro (${targets[*]} $part, $((SECONDS - start)) s): $(summary_of "$LOGS/$distro-$part.log")"
}

# Everything one distro runs: its set-up, lint (the first distro's), its parallel tests, then its
# serial ones (the soak: the node's memory over thousands of frames, one core's worth of work).
# The distros run side by side, so one distro's soak runs beside the other's last tests.
run_distro() {
  local index=$1 distro code=0 start=$SECONDS
  distro="${DISTROS[$index]}"
  # Beside the first distro's set-up: the browser of the console's tests (Debian's chromium).
  local browser=""
  if [ "$index" -eq 0 ]; then
    bash "$ROOT/scripts/install_browser.sh" >"$LOGS/browser.log" 2>&1 &
    browser=$!
  fi
  logged "$LOGS/$distro-setup.log" env ROS_DISTRO="$distro" bash "$ROOT/scripts/setup.sh" || code=$?
  if [ -n "$browser" ]; then
    wait "$browser" || code=$?
    cat "$LOGS/browser.log" >>"$LOGS/$distro-setup.log"
    [ "$SHOW" = quiet ] || cat "$LOGS/browser.log"
  fi
  finished "$distro-setup" "$code" "$distro: set-up $([ "$code" = 0 ] && echo done || echo FAILED) in $((SECONDS - start)) s"
  [ "$code" = 0 ] || return 0
  if [ "$index" -eq 0 ]; then
    code=0
    logged "$LOGS/lint.log" lint || code=$?
    finished lint "$code" "lint: $([ "$code" = 0 ] && echo passed || echo FAILED)"
  fi
  run_part "$index" parallel
  run_part "$index" serial
}

pids=()
for index in "${!DISTROS[@]}"; do
  if [ "$SHOW" = shown ]; then run_distro "$index"; else run_distro "$index" & pids+=($!); fi
done
for pid in "${pids[@]}"; do wait "$pid"; done

status=0
summaries=()
steps=()
for index in "${!DISTROS[@]}"; do
  steps+=("${DISTROS[$index]}-setup")
  [ "$index" -gt 0 ] || steps+=(lint)
  steps+=("${DISTROS[$index]}-parallel" "${DISTROS[$index]}-serial")
done
for step in "${steps[@]}"; do
  if [ ! -f "$LOGS/$step.status" ]; then
    continue  # not reached: its distro's set-up failed
  fi
  [ "$SHOW" = shown ] || cat "$LOGS/$step.log"
  [ "$(cat "$LOGS/$step.status")" = 0 ] || status=1
  summaries+=("$(cat "$LOGS/$step.summary")")
done

say "summary"
printf '%s\n' "${summaries[@]}"
exit "$status"
