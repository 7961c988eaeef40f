#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite, as CI does:
#   lint     ruff check and ruff format --check (ruff.toml);
#   kilted   every test in the ROS 2 Kilted environment: those that need no ROS (engine, outputs,
#            node policies, speed, synthetic scenes, import contracts), the fleet tool on Ray
#            (test/fleet/) and test/ros/ (the node in a real ROS 2 graph, the annotate tool,
#            message conversion);
#   jazzy    test/ros/ again in the ROS 2 Jazzy environment (set up while Kilted's tests run).
# Per distro, the tests run in pytest-xdist workers (SAM3_TEST_WORKERS, default 3); then the tests
# marked `serial` (the soak, which measures the node's memory and needs no other test beside it)
# run, those of both distros side by side.
# The order is random, its seed from the commit (SAM3_TEST_SEED=N repeats another run's order;
# pytest prints it). The last lines are one pytest summary per part.
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
WORKERS="${SAM3_TEST_WORKERS:-3}"
# Each part's workers get ROS domain ids BASE+0, BASE+1, ... (test/ros/node/conftest.py); the base
# is random, so that two test runs on one machine are unlikely to meet.
BASE=$((20 + RANDOM % 6 * 10))
PYTEST_ARGS=(-n "$WORKERS" --dist loadfile --durations=25 -q ${SEED:+"--randomly-seed=$SEED"})

say "test order: random, --randomly-seed=${SEED:-random} (SAM3_TEST_SEED=N repeats an order)"
if [ -n "${ROS_DISTRO:-}" ]; then
  DISTROS=("$ROS_DISTRO")
else
  DISTROS=(kilted jazzy)
fi

ROS_DISTRO="${DISTROS[0]}" bash "$ROOT/scripts/setup.sh"
LOGS="$(mktemp -d)"
trap 'rm -rf "$LOGS"' EXIT
# The second distro's environment is set up while the first distro's tests run.
setup_pid=""
if [ ${#DISTROS[@]} -gt 1 ]; then
  ROS_DISTRO="${DISTROS[1]}" bash "$ROOT/scripts/setup.sh" >"$LOGS/setup.log" 2>&1 &
  setup_pid=$!
fi

status=0
summaries=()
summary_of() {  # the closing line of a pytest log ('1 failed, 234 passed, 50 warnings in 376.51s'; -q drops the ='s)
  local line
  line=$(grep -E '^(=+ )?([0-9]+ [a-z]+(, )?)+ in [0-9.]+s|no tests ran' "$1" | tail -n 1 | sed -E 's/^=+ //; s/ =+$//')
  echo "${line:-no pytest summary}"
}

say "lint: ruff check, ruff format --check"
lint="passed"
(
  # shellcheck disable=SC1091
  ROS_DISTRO="${DISTROS[0]}" source "$ROOT/scripts/activate.sh"
  ruff check . && ruff format --check .
) || { lint="FAILED"; status=1; }
summaries+=("lint: $lint")

# One part of the run in DISTRO's environment (its ROS domain ids from the distro's INDEX), its log in
# $LOGS; with a third argument `quiet` the log is only written, not shown as it goes.
run_part() {
  local index=$1 part=$2 show=${3:-shown} distro targets args log
  distro="${DISTROS[$index]}"
  targets=(test)
  [ "$index" -eq 0 ] || targets=(test/ros)
  if [ "$part" = parallel ]; then
    args=(-m "not serial" "${PYTEST_ARGS[@]}")
  else
    args=(-m serial -p no:xdist --durations=0 -q ${SEED:+"--randomly-seed=$SEED"})
  fi
  log="$LOGS/$distro-$part.log"
  local start=$SECONDS
  # The exit status in a file: the summary is built after both serial parts ran side by side.
  (
    code=0
    SAM3_TEST_ROS_DOMAIN_ID=$((BASE + 10 * index)) run_pytest "$distro" "${targets[@]}" "${args[@]}" 2>&1 || code=$?
    echo "$code" >"$log.status"
  ) | if [ "$show" = quiet ]; then cat >"$log"; else tee "$log"; fi
  echo "$distro (${targets[*]} $part, $((SECONDS - start)) s): $(summary_of "$log")" >"$log.summary"
}

# The parallel parts, one distro after the other (the second one's set-up overlapping the first).
ran=()
for index in "${!DISTROS[@]}"; do
  if [ "$index" -gt 0 ]; then
    if ! wait "$setup_pid"; then
      cat "$LOGS/setup.log"
      summaries+=("${DISTROS[$index]}: set-up failed")
      status=1
      continue
    fi
    cat "$LOGS/setup.log"
  fi
  run_part "$index" parallel
  ran+=("$index")
done
# The serial parts (the soak: the node's memory over thousands of frames) of every distro at once:
# one node per core, and no other test runs beside them.
serial_pids=()
for index in "${ran[@]}"; do
  run_part "$index" serial quiet &
  serial_pids+=($!)
done
for pid in "${serial_pids[@]}"; do wait "$pid"; done
for index in "${ran[@]}"; do
  for part in parallel serial; do
    log="$LOGS/${DISTROS[$index]}-$part.log"
    [ "$part" = parallel ] || cat "$log"
    [ "$(cat "$log.status" 2>/dev/null)" = 0 ] || status=1
    summaries+=("$(cat "$log.summary")")
  done
done

say "summary"
printf '%s\n' "${summaries[@]}"
exit "$status"
