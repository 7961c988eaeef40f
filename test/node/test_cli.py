"""sam3ctl, the installed operator command line, against the real node in a ROS 2 graph.

The node starts unconfigured (autostart false); the tests walk it, in file order, through every
sam3ctl command as an operator would type it: lifecycle get/set, prompts get/add/remove/replace
(with exemplar boxes), the live view, and refusals and missing nodes with their exit statuses.
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


def listed_prompts(output: str) -> dict[str, int]:
    """`  3  red cup` lines of sam3ctl's prompt listing, as {text: id}."""
    listed = {}
    for line in output.splitlines():
        prompt_id, _, text = line.strip().partition("  ")
        if prompt_id.isdigit():
            listed[text.split("  (")[0]] = int(prompt_id)
    return listed


def active(client) -> dict[str, int]:
    return {p.text: p.id for p in client.get_prompts()}


@pytest.mark.parametrize("command", [("prompts", "get"), ("lifecycle", "get"), ("lifecycle", "set", "activate"), ("watch",)])
def test_a_node_that_is_not_running(command, client):
    line = fails(UNREACHABLE, *command, "--node", "/robot7/sam3", "-t", "2")
    assert "node /robot7/sam3 not found within 2 s" in line and "ROS_DOMAIN_ID" in line, line


def test_python_module_is_the_same_command(client):
    done = sam3ctl("lifecycle", "get", "-n", "nobody", "-t", "1", module=True)
    assert done.returncode == UNREACHABLE and "node /nobody not found" in done.stderr, done


def test_lifecycle_get_of_an_unconfigured_node(client):
    assert succeeds("lifecycle", "get").strip() == "unconfigured [1]"


def test_prompts_of_an_unconfigured_node_say_why_they_are_missing(client):
    line = fails(UNREACHABLE, "prompts", "get")
    assert "node /sam3 is running but offers no service /sam3/get_prompts" in line
    assert "from configure to cleanup" in line


def test_a_transition_that_is_not_possible_now(client):
    line = fails(REFUSED, "lifecycle", "set", "activate")
    assert line == "sam3ctl: refused: cannot activate from 'unconfigured'; possible now: configure, shutdown"
    assert client.lifecycle_state() == "unconfigured"


def test_configure_and_activate(client):
    assert succeeds("lifecycle", "set", "configure").strip() == "unconfigured -> inactive"
    assert client.lifecycle_state() == "inactive"
    assert listed_prompts(succeeds("prompts", "get")) == active(client)
    assert sorted(active(client)) == sorted(client.START_PROMPTS)
    assert succeeds("lifecycle", "set", "activate").strip() == "inactive -> active"
    assert succeeds("lifecycle", "get").strip() == "active [3]"
    client.wait_until_connected()


def test_prompts_add(client, footage):
    output = succeeds("prompts", "add", "red cup", "forklift")
    assert listed_prompts(output) == active(client)
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
    assert listed_prompts(output) == active(client)
    assert not {"red cup", "forklift"} & set(active(client))


def test_prompts_replace(client):
    person = active(client)["person"]
    output = succeeds("prompts", "replace", "person", "bicycle")
    assert listed_prompts(output) == active(client)
    assert sorted(active(client)) == ["bicycle", "person"] and active(client)["person"] == person


def test_a_refused_request_prints_the_nodes_reason(client):
    before = active(client)
    line = fails(REFUSED, "prompts", "add", "   ")
    assert line.startswith("sam3ctl: refused: ") and "prompt text is empty" in line, line
    assert active(client) == before


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
