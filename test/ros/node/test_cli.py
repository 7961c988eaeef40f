"""sam3ctl, the installed operator command line, against the real node in a ROS 2 graph.

The node starts unconfigured (autostart false); the tests walk it, in file order, through every
sam3ctl command as an operator would type it: lifecycle get/set, prompts get/add/remove/replace
(with exemplar boxes), objects track/refine/remove (visual prompts), the live view, and refusals
and missing nodes with their exit statuses.
The test client checks each effect through the node's own services and topics.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import pytest

from sam3_ros.node.node_process import executable_path

NODE_PARAMETERS = {"autostart": False}
WATCH_STREAM_S = 4.0
CLI_TIMEOUT_S = 120.0  # one sam3ctl run: start-up (imports, discovery) on 2 slow, shared cores
REFUSED, BAD_ARGUMENTS, UNREACHABLE = 1, 2, 3
RIDER_BOX = ("--box", "50", "5", "60", "55")  # X Y W H around the cyclist of the test footage's first frames


def sam3ctl(*args: str, module: bool = False) -> subprocess.CompletedProcess:
    """Run the installed `sam3ctl` (or `python -m sam3_ros.cli`) on the test's ROS domain."""
    command = [sys.executable, "-m", "sam3_ros.cli"] if module else [str(executable_path("sam3ctl"))]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=CLI_TIMEOUT_S)


def succeeds(*args: str) -> str:
    done = sam3ctl(*args)
    assert done.returncode == 0, f"sam3ctl {' '.join(args)}: exit {done.returncode}\n{done.stdout}{done.stderr}"
    return done.stdout


def fails(status: int, *args: str) -> str:
    """The one line sam3ctl writes to stderr when it exits with `status`."""
    done = sam3ctl(*args)
    assert done.returncode == status, f"sam3ctl {' '.join(args)}: exit {done.returncode}\n{done.stdout}{done.stderr}"
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sam3ctl: "), done.stderr
    return lines[0]


def listed(output: str) -> dict[str, int]:
    """`  3  red cup` lines of sam3ctl's listing of prompts (or of visual objects), as {text: id}."""
    listed = {}
    for line in output.splitlines():
        prompt_id, _, text = line.strip().partition("  ")
        if prompt_id.isdigit():
            listed[text.split("  (")[0]] = int(prompt_id)
    return listed


def active(client) -> dict[str, int]:
    return {p.text: p.id for p in client.get_prompts()}


@pytest.mark.parametrize(
    "command",
    [("prompts", "get"), ("objects", "remove", "7"), ("lifecycle", "get"), ("lifecycle", "set", "activate"), ("watch",)],
)
def test_a_node_that_is_not_running(command, client):
    line = fails(UNREACHABLE, *command, "--node", "/robot7/sam3", "-t", "2")
    assert "node /robot7/sam3 not found within 2 s" in line and "ROS_DOMAIN_ID" in line, line


def test_python_module_is_the_same_command(client):
    done = sam3ctl("lifecycle", "get", "-n", "nobody", "-t", "1", module=True)
    assert done.returncode == UNREACHABLE and "node /nobody not found" in done.stderr, done


def test_lifecycle_get_of_an_unconfigured_node(client):
    assert succeeds("lifecycle", "get").strip() == "unconfigured [1]"


@pytest.mark.parametrize(
    "command, service",
    [(("prompts", "get"), "get_prompts"), (("objects", "track", "--point", "10", "10"), "track_object")],
)
def test_services_of_an_unconfigured_node_say_why_they_are_missing(client, command, service):
    line = fails(UNREACHABLE, *command)
    assert f"node /sam3 is running but offers no service /sam3/{service}" in line
    assert "from configure to cleanup" in line


def test_a_transition_that_is_not_possible_now(client):
    line = fails(REFUSED, "lifecycle", "set", "activate")
    assert line == "sam3ctl: refused: cannot activate from 'unconfigured'; possible now: configure, shutdown"
    assert client.lifecycle_state() == "unconfigured"


def test_configure_and_activate(client):
    assert succeeds("lifecycle", "set", "configure").strip() == "unconfigured -> inactive"
    assert client.lifecycle_state() == "inactive"
    assert listed(succeeds("prompts", "get")) == active(client)
    assert sorted(active(client)) == sorted(client.START_PROMPTS)
    assert succeeds("lifecycle", "set", "activate").strip() == "inactive -> active"
    assert succeeds("lifecycle", "get").strip() == "active [3]"
    client.wait_until_connected()


def test_prompts_add(client, footage):
    output = succeeds("prompts", "add", "red cup", "forklift")
    assert listed(output) == active(client)
    assert {"red cup", "forklift"} <= set(active(client))
    client.process(footage[0])  # exemplar boxes are checked against the last frame's size


def test_prompts_add_with_exemplar_boxes(client):
    inside = ("--box", "10", "5", "40", "30", "--negative-box", "60", "5", "20", "20")
    done = sam3ctl("prompts", "add", "cyclist", *inside)
    try:
        import torchvision  # noqa: F401 - SAM 3 pools exemplar boxes with its roi_align
    except ImportError:
        assert done.returncode == REFUSED and "torchvision" in done.stderr, done
    else:
        assert done.returncode == 0, done
        assert {p.text: p.exemplar_count for p in client.get_prompts()}["cyclist"] == 2
        assert "cyclist  (2 exemplar boxes)" in done.stdout

    width, height = client.FRAME_WIDTH, client.FRAME_HEIGHT
    line = fails(REFUSED, "prompts", "add", "bench", "--box", str(width - 10), "0", "50", "20")
    assert f"reaches outside the image ({width}x{height}" in line, line
    assert "bench" not in active(client)


def test_exemplar_boxes_belong_to_one_text(client):
    line = fails(BAD_ARGUMENTS, "prompts", "add", "bench", "chair", "--box", "0", "0", "5", "5")
    assert "give one TEXT" in line


def test_prompts_remove_by_text_and_by_id(client):
    forklift = active(client)["forklift"]
    output = succeeds("prompts", "remove", "red cup", "--id", str(forklift))
    assert listed(output) == active(client)
    assert not {"red cup", "forklift"} & set(active(client))


def test_prompts_replace(client):
    person = active(client)["person"]
    output = succeeds("prompts", "replace", "person", "bicycle")
    assert listed(output) == active(client)
    assert sorted(active(client)) == ["bicycle", "person"] and active(client)["person"] == person


def test_a_refused_request_prints_the_nodes_reason(client):
    before = active(client)
    line = fails(REFUSED, "prompts", "add", "   ")
    assert line.startswith("sam3ctl: refused: ") and "prompt text is empty" in line, line
    assert active(client) == before


@pytest.fixture(scope="module")
def rider(client, footage) -> tuple[int, str, object]:
    """`sam3ctl objects track` by a box and a click once concepts are confirmed: (its track id, sam3ctl's output, the next result)."""
    for frame in footage[: client.CONFIRM_FRAMES]:
        client.process(frame)
    output = succeeds("objects", "track", *RIDER_BOX, "--point", "70", "30", "--label", "rider")
    match = re.match(r"tracking object (\d+)\n", output)
    assert match, output
    _, result = client.process(footage[client.CONFIRM_FRAMES])
    return int(match[1]), output, result


def test_objects_track_by_box_and_point(rider):
    track_id, output, result = rider
    assert listed(output) == {"rider": track_id}
    assert [(i.id, i.prompt_text) for i in result.instances if i.prompt_id == 0] == [(track_id, "rider")]


def test_objects_refine_a_visual_and_a_concept_object(client, rider, footage):
    track_id, _, result = rider
    concept = next(i for i in result.instances if i.prompt_id != 0)
    output = succeeds("objects", "refine", str(track_id), "--point", "60", "20", "--negative-point", "100", "50")
    assert output == f"object {track_id} refined\n{track_id:>4}  rider\n"
    output = succeeds("objects", "refine", str(concept.id), "--box", "0", "0", "40", "30")
    assert output.startswith(f"object {concept.id} refined\n"), output
    client.process(footage[client.CONFIRM_FRAMES + 1])  # the tiny model's corrected masks are arbitrary: it only has to go on


def test_objects_track_by_a_click_alone_then_remove(client, rider, footage):
    output = succeeds("objects", "track", "--point", "30", "40")
    new_id = int(re.match(r"tracking object (\d+)\n", output)[1])
    assert listed(output) == {"rider": rider[0], f"object {new_id}": new_id}
    output = succeeds("objects", "remove", str(new_id))
    assert output == f"object {new_id} removed\n{rider[0]:>4}  rider\n"
    _, result = client.process(footage[client.CONFIRM_FRAMES + 2])
    assert new_id not in [i.id for i in result.instances]


@pytest.mark.parametrize(
    "command, reason",
    [
        (("track", "--point", "160", "10"), "outside the 160x68 image"),
        (("track", "--negative-point", "10", "10"), "all points are negative"),
        (("refine", "99999", "--point", "10", "10"), "no live track has id 99999"),
    ],
)
def test_objects_refusals_print_the_nodes_reason(rider, command, reason):
    line = fails(REFUSED, "objects", *command)
    assert line.startswith("sam3ctl: refused: ") and reason in line, line


def test_objects_removing_a_concept_object_is_refused(rider):
    concept = next(i for i in rider[2].instances if i.prompt_id != 0)
    line = fails(REFUSED, "objects", "remove", str(concept.id))
    assert "remove the prompt" in line, line


@pytest.mark.parametrize(
    "command, reason",
    [
        (("track", "--label", "rider"), "say where the object is"),
        (("refine", "3"), "say where the object is"),
        (("track", "--box", "10", "10", "-5", "5"), "box 10 10 -5 5: X Y W H must not be negative"),
        (("remove", "0"), "track id 0: a track id is a positive integer"),
        (("refine", "-2", "--point", "1", "1"), "track id -2"),
    ],
)
def test_objects_bad_arguments(client, command, reason):
    line = fails(BAD_ARGUMENTS, "objects", *command)
    assert reason in line, line


def test_objects_a_track_id_that_is_not_a_number(client):
    done = sam3ctl("objects", "remove", "rider")
    assert done.returncode == BAD_ARGUMENTS and "invalid int value: 'rider'" in done.stderr, done


def test_objects_remove(client, rider, footage):
    track_id = rider[0]
    assert succeeds("objects", "remove", str(track_id)) == f"object {track_id} removed\nno visual objects\n"
    _, result = client.process(footage[client.CONFIRM_FRAMES + 3])
    assert track_id not in [i.id for i in result.instances]
    line = fails(REFUSED, "objects", "remove", str(track_id))
    assert f"no live track has id {track_id}" in line, line


def watch_output(client, footage, *args: str) -> tuple[subprocess.Popen, str]:
    """Run `sam3ctl watch ARGS` while the node tracks frames; stopped with Ctrl-C unless --once."""
    once = "--once" in args
    for frame in footage[: client.CONFIRM_FRAMES + 1] if once else ():  # confirmed tracks to show
        client.process(frame)
    watcher = subprocess.Popen(
        [str(executable_path("sam3ctl")), "watch", "-t", "60", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )

    def subscribed() -> bool:
        readers = client.node.get_subscriptions_info_by_topic(f"{client.NODE_NAME}/instances")
        return watcher.poll() is not None or any(r.node_name.startswith("_sam3ctl_") for r in readers)

    client.spin_until(subscribed, CLI_TIMEOUT_S, "the subscription of sam3ctl watch")
    # Our graph sees sam3ctl's reader before the node's publisher may have matched it: frames keep
    # coming for a while, as from a camera, so that some reach the watcher on a loaded machine too.
    streaming_until = time.monotonic() + WATCH_STREAM_S
    for frame in footage:
        client.process(frame)
        if watcher.poll() is not None or (not once and time.monotonic() > streaming_until):
            break  # --once has what it waited for, or the stream ran long enough
    if not once:
        client.spin_for(2.0)  # diagnostics come once a second
        watcher.send_signal(signal.SIGINT)
    stdout, stderr = watcher.communicate(timeout=CLI_TIMEOUT_S)
    return watcher, stdout + stderr


def table_rows(output: str) -> list[list[str]]:
    """The body rows of the tables in sam3ctl watch's output, as stripped cells."""
    return [[cell.strip() for cell in line.split("│")[1:-1]] for line in output.splitlines() if line.startswith("│")]


def test_watch_once_shows_each_prompt_with_its_instances_and_the_nodes_rates(client, footage):
    watcher, output = watch_output(client, footage, "--once")
    assert watcher.returncode == 0, output
    rows = table_rows(output)
    prompts = {(str(p.id), p.text) for p in client.get_prompts()}
    assert prompts <= {tuple(row[:2]) for row in rows}, output
    tracked = {(f"{i.prompt_id} {i.prompt_text}", str(i.id)) for r in client.results for i in r.instances}
    shown = {tuple(row[:2]) for row in rows if len(row) == 6}
    assert shown and shown <= tracked, output  # the tiny model tracks one instance per prompt
    # The level is WARN (camera stalled) when frames came slower than stall_timeout while sam3ctl started.
    health = r"/sam3  (OK|WARN)  active  in [0-9.]+ Hz  processed [0-9.]+ Hz  latency (n/a|[0-9.]+ s \(max [0-9.]+\))  dropped [0-9]+"
    assert re.match(health, output), output


def test_watch_until_ctrl_c(client, footage):
    watcher, output = watch_output(client, footage)
    assert watcher.returncode == 0, output
    assert "person" in output and "bicycle" in output and "processed " in output, output


def test_watch_once_of_an_inactive_node_says_why_nothing_comes(client):
    assert succeeds("lifecycle", "set", "deactivate").strip() == "active -> inactive"
    # -t bounds discovery as well as the wait for results: on two loaded cores discovery alone can take 3 s.
    line = fails(UNREACHABLE, "watch", "--once", "-t", "8")
    assert "no InstanceArray on /sam3/instances within 8 s" in line and "its lifecycle state: inactive" in line, line


def test_cleanup_and_shutdown(client, sam3_node):
    assert succeeds("lifecycle", "set", "cleanup").strip() == "inactive -> unconfigured"
    sam3_node.exit_expected = True
    assert succeeds("lifecycle", "set", "shutdown").strip() == "unconfigured -> finalized"
    assert sam3_node.process.wait(timeout=30) == 0, sam3_node.describe()
