"""sam3ctl, the installed operator command line, against the real node in a ROS 2 graph.

Every sam3ctl command as an operator would type it: lifecycle get/set, prompts get/add/remove/replace
(with exemplar boxes), objects track/refine/remove (visual prompts), the live view, and refusals
and missing nodes with their exit statuses. The test client checks each effect through the node's
own services and topics.

The module's node starts unconfigured (autostart false). Each test brings it into the state it
needs through the node's own lifecycle and prompt services (fixtures `unconfigured_node`,
`active_node`, `concept_tracks`, `rider`), so that the tests pass alone and in any order. Only the
lifecycle shutdown, which ends its node, gets a node of its own.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
import threading
import time
from typing import NamedTuple

import pytest
from lifecycle_msgs.msg import Transition
from rclpy.parameter import Parameter
from sam3_ros.msg import InstanceArray
from sam3_ros.srv import RemoveObject, SetPrompts

from sam3_ros.node.node_process import executable_path

NODE_PARAMETERS = {"autostart": False}
CLI_TIMEOUT_S = 120.0  # one sam3ctl run: start-up (imports, discovery) on 2 slow, shared cores
CAMERA_PERIOD_S = 0.2  # frames for a node that does not answer them come as from a 5 Hz camera
REFUSED, BAD_ARGUMENTS, UNREACHABLE = 1, 2, 3
RIDER_BOX = ("--box", "50", "5", "60", "55")  # X Y W H around the cyclist of the test footage's first frames
# The health line of sam3ctl watch for an active node (from its /diagnostics).
HEALTH = r"/sam3  (OK|WARN)  active  in [0-9.]+ Hz  processed [0-9.]+ Hz  latency (n/a|[0-9.]+ s \(max [0-9.]+\))  dropped [0-9]+"


def sam3ctl(*args: str, module: bool = False) -> subprocess.CompletedProcess:
    """Run the installed `sam3ctl` (or `python -m sam3_ros.cli`) on the test's ROS domain."""
    command = [sys.executable, "-m", "sam3_ros.cli"] if module else [str(executable_path("sam3ctl"))]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=CLI_TIMEOUT_S)


def succeeds(*args: str, module: bool = False) -> str:
    done = sam3ctl(*args, module=module)
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


def instance_ids(result: InstanceArray) -> list[int]:
    return [i.id for i in result.instances]


# -- the module's node, brought into the state a test needs (idempotent) ---------------------------


def transition(client, transition_id: int, expected: str) -> None:
    assert client.change_state(transition_id), f"lifecycle transition {transition_id} failed: {client.node_process.describe()}"
    assert client.lifecycle_state() == expected


@pytest.fixture
def unconfigured_node(client):
    """The module's node unconfigured (deactivated and cleaned up as needed), with the start prompts
    in its `prompts` parameter again, so that a configure applies them."""
    state = client.lifecycle_state()
    if state == "active":
        transition(client, Transition.TRANSITION_DEACTIVATE, "inactive")
        state = "inactive"
    if state == "inactive":
        transition(client, Transition.TRANSITION_CLEANUP, "unconfigured")
        # Cleanup keeps the prompts of the last configuration in the parameter; unconfigured, it can change.
        result = client.set_parameter(Parameter("prompts", value=list(client.START_PROMPTS)))
        assert result.successful, result.reason
    assert client.lifecycle_state() == "unconfigured"
    return client


@pytest.fixture
def active_node(client, footage):
    """The module's node active (configured and activated as needed), reset to its start
    (client.reset_to_start: the start prompts, no visual objects), with footage[0] processed, so
    that exemplar boxes and clicks are checked against the frame size."""
    state = client.lifecycle_state()
    if state == "unconfigured":
        transition(client, Transition.TRANSITION_CONFIGURE, "inactive")
        state = "inactive"
    if state == "inactive":
        transition(client, Transition.TRANSITION_ACTIVATE, "active")
        client.wait_until_connected()  # configure creates the topics anew: frames only count once they match
    assert client.lifecycle_state() == "active"
    client.reset_to_start()
    client.process(footage[0])
    return client


@pytest.fixture
def concept_tracks(active_node, footage) -> InstanceArray:
    """The result of footage[client.CONFIRM_FRAMES] on the active node: its concept tracks are confirmed."""
    client = active_node
    for frame in footage[1 : client.CONFIRM_FRAMES]:
        client.process(frame)
    _, result = client.process(footage[client.CONFIRM_FRAMES])
    assert any(i.prompt_id != 0 for i in result.instances), f"no concept track after {client.CONFIRM_FRAMES + 1} frames: {result}"
    return result


class Rider(NamedTuple):
    track_id: int
    output: str  # what `sam3ctl objects track` printed
    result: InstanceArray  # of the frame after it (footage[client.CONFIRM_FRAMES + 1])


@pytest.fixture
def rider(active_node, concept_tracks, footage):
    """`sam3ctl objects track` by a box and a click once concepts are confirmed; removed afterwards."""
    client = active_node
    output = succeeds("objects", "track", *RIDER_BOX, "--point", "70", "30", "--label", "rider")
    match = re.match(r"tracking object (\d+)\n", output)
    assert match, output
    track_id = int(match[1])
    _, result = client.process(footage[client.CONFIRM_FRAMES + 1])
    yield Rider(track_id, output, result)
    if track_id in client.visual_object_ids():
        client.call(RemoveObject, f"{client.NODE_NAME}/remove_object", RemoveObject.Request(track_id=track_id))


def pytest_generate_tests(metafunc):
    """A lifecycle shutdown ends its node: that test gets a node of its own, the others share the module's.

    pytest keeps one instance of a module fixture per parameter and stops the other before it
    starts one (two nodes named /sam3 would both answer sam3ctl), and it groups the tests by
    parameter, so that the module's node starts once in any order.
    """
    if "sam3_node" in metafunc.fixturenames:
        node = "own node" if metafunc.definition.name == "test_cleanup_and_shutdown" else "module node"
        metafunc.parametrize("sam3_node", [node], indirect=True, scope="module")


# -- missing nodes, the lifecycle -----------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [("prompts", "get"), ("objects", "remove", "7"), ("lifecycle", "get"), ("lifecycle", "set", "activate"), ("watch",)],
)
def test_a_node_that_is_not_running(command, client):
    line = fails(UNREACHABLE, *command, "--node", "/robot7/sam3", "-t", "2")
    assert "node /robot7/sam3 not found within 2 s" in line and "ROS_DOMAIN_ID" in line, line
    # On the same domain, the node that does run is found.
    assert re.fullmatch(r"\w+ \[\d\]\n", succeeds("lifecycle", "get", "--node", "/sam3")), "sam3ctl does not find /sam3"


def test_python_module_is_the_same_command(client):
    done = sam3ctl("lifecycle", "get", "-n", "nobody", "-t", "1", module=True)
    assert done.returncode == UNREACHABLE and "node /nobody not found" in done.stderr, done
    assert succeeds("lifecycle", "get", module=True) == succeeds("lifecycle", "get")


def test_lifecycle_get_of_an_unconfigured_node(unconfigured_node):
    assert succeeds("lifecycle", "get").strip() == "unconfigured [1]"


@pytest.mark.parametrize(
    "command, service, configured_status, configured_says",
    [
        (("prompts", "get"), "get_prompts", 0, "person"),
        (("objects", "track", "--point", "10", "10"), "track_object", REFUSED, "refused: no frame has been processed yet"),
    ],
    ids=["get_prompts", "track_object"],
)
def test_services_of_an_unconfigured_node_say_why_they_are_missing(unconfigured_node, command, service, configured_status, configured_says):
    line = fails(UNREACHABLE, *command)
    assert f"node /sam3 is running but offers no service /sam3/{service}" in line
    assert "from configure to cleanup" in line
    # Configured, the node offers the service: the same command reaches it.
    transition(unconfigured_node, Transition.TRANSITION_CONFIGURE, "inactive")
    done = sam3ctl(*command)
    assert done.returncode == configured_status and configured_says in done.stdout + done.stderr, done


def test_a_transition_that_is_not_possible_now(unconfigured_node):
    line = fails(REFUSED, "lifecycle", "set", "activate")
    assert line == "sam3ctl: refused: cannot activate from 'unconfigured'; possible now: configure, shutdown"
    assert unconfigured_node.lifecycle_state() == "unconfigured"


def test_configure_and_activate(unconfigured_node):
    client = unconfigured_node
    assert succeeds("lifecycle", "set", "configure").strip() == "unconfigured -> inactive"
    assert client.lifecycle_state() == "inactive"
    assert listed(succeeds("prompts", "get")) == active(client)
    assert sorted(active(client)) == sorted(client.START_PROMPTS)
    assert succeeds("lifecycle", "set", "activate").strip() == "inactive -> active"
    assert succeeds("lifecycle", "get").strip() == "active [3]"
    client.wait_until_connected()


def test_cleanup_and_shutdown(sam3_node, client):  # on a node of its own (pytest_generate_tests)
    transition(client, Transition.TRANSITION_CONFIGURE, "inactive")
    assert succeeds("lifecycle", "set", "cleanup").strip() == "inactive -> unconfigured"
    sam3_node.exit_expected = True
    assert succeeds("lifecycle", "set", "shutdown").strip() == "unconfigured -> finalized"
    assert sam3_node.process.wait(timeout=30) == 0, sam3_node.describe()


# -- prompts ---------------------------------------------------------------------------------------


def test_prompts_add(active_node):
    client = active_node
    output = succeeds("prompts", "add", "red cup", "forklift")
    assert listed(output) == active(client)
    assert {"red cup", "forklift"} <= set(active(client))


def test_prompts_add_with_exemplar_boxes(active_node):
    client = active_node
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
    succeeds("prompts", "add", "bench")  # without the box it is taken
    assert "bench" in active(client)


def test_exemplar_boxes_belong_to_one_text(ros_domain_id):
    line = fails(BAD_ARGUMENTS, "prompts", "add", "bench", "chair", "--box", "0", "0", "5", "5")
    assert "give one TEXT" in line


def test_prompts_remove_by_text_and_by_id(active_node):
    client = active_node
    assert client.set_prompts(SetPrompts.Request.ADD, ["red cup", "forklift"]).success
    assert {"red cup", "forklift"} <= set(active(client))
    forklift = active(client)["forklift"]
    output = succeeds("prompts", "remove", "red cup", "--id", str(forklift))
    assert listed(output) == active(client)
    assert sorted(active(client)) == sorted(client.START_PROMPTS)  # both gone, nothing else


def test_prompts_replace(active_node):
    client = active_node
    assert client.set_prompts(SetPrompts.Request.ADD, ["forklift"]).success
    person = active(client)["person"]
    assert sorted(active(client)) == ["bicycle", "forklift", "person"]
    output = succeeds("prompts", "replace", "person", "bicycle")
    assert listed(output) == active(client)
    assert sorted(active(client)) == ["bicycle", "person"] and active(client)["person"] == person


def test_a_refused_request_prints_the_nodes_reason(active_node):
    before = active(active_node)
    line = fails(REFUSED, "prompts", "add", "   ")
    assert line.startswith("sam3ctl: refused: ") and "prompt text is empty" in line, line
    assert active(active_node) == before


# -- objects (visual prompts) ----------------------------------------------------------------------


def test_objects_track_by_box_and_point(rider):
    assert listed(rider.output) == {"rider": rider.track_id}
    assert [(i.id, i.prompt_text) for i in rider.result.instances if i.prompt_id == 0] == [(rider.track_id, "rider")]


def test_objects_refine_a_visual_and_a_concept_object(active_node, rider, footage):
    client = active_node
    concept = next(i for i in rider.result.instances if i.prompt_id != 0)
    output = succeeds("objects", "refine", str(rider.track_id), "--point", "60", "20", "--negative-point", "100", "50")
    assert output == f"object {rider.track_id} refined\n{rider.track_id:>4}  rider\n"
    output = succeeds("objects", "refine", str(concept.id), "--box", "0", "0", "40", "30")
    assert output.startswith(f"object {concept.id} refined\n"), output
    client.process(footage[client.CONFIRM_FRAMES + 2])  # the tiny model's corrected masks are arbitrary: it only has to go on


def test_objects_track_by_a_click_alone_then_remove(active_node, rider, footage):
    client = active_node
    output = succeeds("objects", "track", "--point", "30", "40")
    new_id = int(re.match(r"tracking object (\d+)\n", output)[1])
    assert listed(output) == {"rider": rider.track_id, f"object {new_id}": new_id}
    _, result = client.process(footage[client.CONFIRM_FRAMES + 2])
    assert new_id in instance_ids(result), result
    output = succeeds("objects", "remove", str(new_id))
    assert output == f"object {new_id} removed\n{rider.track_id:>4}  rider\n"
    _, result = client.process(footage[client.CONFIRM_FRAMES + 3])
    assert new_id not in instance_ids(result) and rider.track_id in instance_ids(result), result


@pytest.mark.parametrize(
    "command, reason",
    [
        (("track", "--point", "160", "10"), "outside the 160x68 image"),
        (("track", "--negative-point", "10", "10"), "all points are negative"),
        (("refine", "99999", "--point", "10", "10"), "no live track has id 99999"),
    ],
)
def test_objects_refusals_print_the_nodes_reason(active_node, command, reason):
    line = fails(REFUSED, "objects", *command)
    assert line.startswith("sam3ctl: refused: ") and reason in line, line


def test_objects_removing_a_concept_object_is_refused(concept_tracks):
    concept = next(i for i in concept_tracks.instances if i.prompt_id != 0)
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
def test_objects_bad_arguments(ros_domain_id, command, reason):
    line = fails(BAD_ARGUMENTS, "objects", *command)
    assert reason in line, line


def test_objects_a_track_id_that_is_not_a_number(ros_domain_id):
    done = sam3ctl("objects", "remove", "rider")
    assert done.returncode == BAD_ARGUMENTS and "invalid int value: 'rider'" in done.stderr, done


def test_objects_remove(active_node, rider, footage):
    client = active_node
    track_id = rider.track_id
    assert track_id in instance_ids(rider.result), rider.result
    assert succeeds("objects", "remove", str(track_id)) == f"object {track_id} removed\nno visual objects\n"
    _, result = client.process(footage[client.CONFIRM_FRAMES + 2])
    assert track_id not in instance_ids(result), result
    line = fails(REFUSED, "objects", "remove", str(track_id))
    assert f"no live track has id {track_id}" in line, line


# -- the live view ---------------------------------------------------------------------------------


def start_watch(client, *args: str, **popen_args) -> subprocess.Popen:
    """`sam3ctl watch ARGS`, started once its subscription of the node's ~/instances shows in the graph."""
    watcher = subprocess.Popen([str(executable_path("sam3ctl")), "watch", *args], **popen_args)

    def subscribed() -> bool:
        readers = client.node.get_subscriptions_info_by_topic(f"{client.NODE_NAME}/instances")
        return watcher.poll() is not None or any(r.node_name == f"_sam3ctl_{watcher.pid}" for r in readers)

    client.spin_until(subscribed, CLI_TIMEOUT_S, "the subscription of sam3ctl watch")
    return watcher


def watch_once(client, frames, *args: str) -> tuple[subprocess.Popen, str, list]:
    """`sam3ctl watch --once ARGS` while frames come, as from a camera, until it exits; (it, its output, the frames' stamps).

    Our graph sees sam3ctl's reader before the node's publisher may have matched it: frames go on
    until sam3ctl has what it waited for (or gave up). Each result is awaited before the next frame,
    unless the node is not active (then frames come every CAMERA_PERIOD_S).
    """
    watcher = start_watch(client, "--once", *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    processing = client.lifecycle_state() == "active"
    stamps, deadline = [], time.monotonic() + CLI_TIMEOUT_S
    for frame in itertools.cycle(frames):
        if watcher.poll() is not None:
            break
        assert time.monotonic() < deadline, "sam3ctl watch --once did not exit"
        if processing:
            msg, _ = client.process(frame)
        else:
            msg = client.publish_frame(frame)
            client.spin_until(lambda: watcher.poll() is not None, CAMERA_PERIOD_S, fail=False)
        stamps.append(msg.header.stamp)
    stdout, stderr = watcher.communicate(timeout=CLI_TIMEOUT_S)
    return watcher, stdout + stderr, stamps


def table_rows(output: str) -> list[list[str]]:
    """The body rows of the tables in sam3ctl watch's output, as stripped cells."""
    return [[cell.strip() for cell in line.split("│")[1:-1]] for line in output.splitlines() if line.startswith("│")]


def test_watch_once_shows_each_prompt_with_its_instances_and_the_nodes_rates(concept_tracks, client, footage):
    watcher, output, _ = watch_once(client, footage[client.CONFIRM_FRAMES + 1 :], "-t", "60")
    assert watcher.returncode == 0, output
    rows = table_rows(output)
    prompts = {(str(p.id), p.text) for p in client.get_prompts()}
    assert prompts <= {tuple(row[:2]) for row in rows}, output
    tracked = {(f"{i.prompt_id} {i.prompt_text}", str(i.id)) for r in client.results for i in r.instances}
    shown = {tuple(row[:2]) for row in rows if len(row) == 6}
    assert shown and shown <= tracked, output  # the tiny model tracks one instance per prompt
    # The level is WARN (camera stalled) when frames came slower than stall_timeout while sam3ctl started.
    assert re.match(HEALTH, output), output


class Terminal:
    """A pseudo-terminal, as an operator's: what a program writes to it, collected as it comes."""

    CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")  # cursor movements and colours of a live view

    def __init__(self):
        self.controller, self.terminal = os.openpty()
        self._written: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.controller, 65536)
            except OSError:  # EIO: every program on the terminal side has closed it
                return
            if not chunk:
                return
            self._written.append(chunk)

    def text(self) -> str:
        """What was written so far, as lines of text ("\r", the start of each redraw, ends a line)."""
        return self.CONTROL.sub("", b"".join(self._written).decode(errors="replace")).replace("\r", "\n")

    def release(self) -> None:
        """Leave the terminal side to the programs started on it (their exit is then an EOF here)."""
        if self.terminal is not None:
            os.close(self.terminal)
            self.terminal = None

    def close(self) -> str:
        """Everything written, once the programs on it have exited."""
        self.release()
        self._reader.join(timeout=CLI_TIMEOUT_S)
        os.close(self.controller)
        return self.text()


def test_watch_until_ctrl_c(active_node, footage):
    client = active_node
    terminal = Terminal()
    environment = dict(os.environ, TERM="xterm-256color", COLUMNS="200", LINES="60")  # wide: a table row per line
    watcher = None
    try:
        on_terminal = {"stdin": terminal.terminal, "stdout": terminal.terminal, "stderr": terminal.terminal}
        watcher = start_watch(client, "-t", "60", env=environment, **on_terminal)
        terminal.release()

        def shown() -> bool:
            """The view shows both prompts (its table of an InstanceArray) and the node's rates (its diagnostics)."""
            text = terminal.text()
            return {"person", "bicycle"} <= {row[1] for row in table_rows(text) if len(row) == 4} and bool(re.search(HEALTH, text))

        deadline = time.monotonic() + CLI_TIMEOUT_S
        for frame in itertools.cycle(footage):  # frames come, as from a camera, until the view shows them
            if shown() or watcher.poll() is not None:
                break
            assert time.monotonic() < deadline, f"sam3ctl watch never showed the prompts and the rates:\n{terminal.text()}"
            client.process(frame)
        assert watcher.poll() is None, f"sam3ctl watch exited with {watcher.returncode}:\n{terminal.text()}"
        watcher.send_signal(signal.SIGINT)
        assert watcher.wait(timeout=CLI_TIMEOUT_S) == 0, terminal.text()
    finally:
        if watcher is not None and watcher.poll() is None:
            watcher.kill()
            watcher.wait()
        output = terminal.close()
    assert "person" in output and "bicycle" in output and "processed " in output, output


def test_watch_once_of_an_inactive_node_says_why_nothing_comes(active_node, footage):
    client = active_node
    assert succeeds("lifecycle", "set", "deactivate").strip() == "active -> inactive"
    # -t bounds discovery as well as the wait for results: on two loaded cores discovery alone can take 3 s.
    watcher, output, ignored = watch_once(client, footage, "-t", "8")
    assert watcher.returncode == UNREACHABLE, output
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sam3ctl: "), output
    assert "no InstanceArray on /sam3/instances within 8 s" in lines[0] and "its lifecycle state: inactive" in lines[0], output
    # Active again, frames as these get results, and watch --once shows one.
    assert succeeds("lifecycle", "set", "activate").strip() == "inactive -> active"
    watcher, output, _ = watch_once(client, footage, "-t", "60")
    assert watcher.returncode == 0 and table_rows(output), output
    assert ignored and not any(client.result_for(stamp) for stamp in ignored), "the node processed images while inactive"
