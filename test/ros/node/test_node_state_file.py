"""The state file: the prompt set an operator chose survives a SIGKILL, and a corrupt file costs nothing but a log line.

Each test starts its own nodes (node_launcher), so it can kill one and start it again with the
same parameters, as systemd or ros2 launch's respawn would.
"""

from __future__ import annotations

import json

from sam3_ros.srv import SetPrompts

REPLACE, ADD = SetPrompts.Request.REPLACE, SetPrompts.Request.ADD


def texts(prompts) -> list[str]:
    return [p.text for p in prompts]


def test_prompts_survive_sigkill_and_restart(node_launcher, tmp_path):
    state_file = tmp_path / "state" / "sam3_prompts.json"
    state_file.parent.mkdir()
    parameters = {"state_file": str(state_file)}
    node, client = node_launcher.start(parameters)
    assert texts(client.get_prompts()) == list(client.START_PROMPTS)
    assert not state_file.exists(), "nothing changed yet: no file to write"

    response = client.set_prompts(REPLACE, ["red cup", "Person"])
    assert response.success, response.message
    response = client.set_prompts(ADD, ["forklift"])
    assert response.success, response.message
    wanted = ["person", "red cup", "forklift"]  # a kept prompt keeps its id, and ids order the set
    assert texts(client.get_prompts()) == wanted
    assert json.loads(state_file.read_text()) == {"version": 1, "prompts": wanted}
    assert [p.name for p in state_file.parent.iterdir()] == [state_file.name], "no temporary file may stay behind"

    node.kill()
    node, client = node_launcher.start(parameters)  # same parameters: `prompts` still says person, bicycle
    assert texts(client.get_prompts()) == wanted
    assert client.get_parameters(["prompts"])["prompts"] == wanted, "the parameter mirrors the restored set"
    assert f"prompts restored from state file {state_file}" in node.log_text()


def test_corrupt_state_file_falls_back_to_the_prompts_parameter(node_launcher, tmp_path):
    state_file = tmp_path / "sam3_prompts.json"
    state_file.write_text('{"version": 1, "prompts": ["half a wri')
    node, client = node_launcher.start({"state_file": str(state_file)})
    assert texts(client.get_prompts()) == list(client.START_PROMPTS)
    log = node.log_text()
    assert f"state file {state_file} not used" in log and "not valid JSON" in log, log
    assert "starting with the 'prompts' parameter instead" in log

    # The node keeps running and the next change repairs the file.
    response = client.set_prompts(ADD, ["car"])
    assert response.success, response.message
    assert json.loads(state_file.read_text())["prompts"] == [*client.START_PROMPTS, "car"]
