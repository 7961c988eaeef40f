"""Prompt services under concurrent callers: bursts are all answered, and the `prompts` parameter never drifts.

* rclpy creates services with a request queue of 10: of 100 concurrent ~/get_prompts calls only
  10 to 16 were answered, the rest timed out.
* A `prompts` parameter change that arrived while a ~/set_prompts call mirrored its set into the
  parameter was accepted but never applied to the engine (a flag shared by all executor threads).
"""

import time

from rcl_interfaces.srv import SetParameters
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile
from sam3_ros.msg import ConceptPrompt
from sam3_ros.srv import GetPrompts, SetPrompts

NODE_PARAMETERS = {"max_prompt_requests_per_second": 0.0}  # no rate limit: every call must change the set
BURST = 100
BURST_TIMEOUT_S = 60.0
RACE_ROUNDS = 40
RACE_STEP_S = 0.0005  # the parameter change follows the service call by 0, 0.5, 1, ... ms


def test_a_burst_of_concurrent_get_prompts_calls_is_all_answered(client):
    caller = client.node.create_client(GetPrompts, f"{client.NODE_NAME}/get_prompts", qos_profile=QoSProfile(depth=BURST))
    try:
        client.spin_until(caller.service_is_ready, 30.0, "get_prompts")
        client.wait_until_node_discovered_us()  # the node knows where to send its answers
        futures = [caller.call_async(GetPrompts.Request()) for _ in range(BURST)]

        client.spin_until(lambda: all(f.done() for f in futures), BURST_TIMEOUT_S, f"answers to {BURST} concurrent calls", fail=False)

        answered = [f for f in futures if f.done()]
        assert len(answered) == BURST, f"{len(answered)} of {BURST} concurrent calls answered"
        assert all([p.text for p in f.result().active_prompts] == list(client.START_PROMPTS) for f in answered)
    finally:
        client.node.destroy_client(caller)


def test_prompts_parameter_and_service_changes_racing_each_other_stay_consistent(client):
    set_prompts = client.node.create_client(SetPrompts, f"{client.NODE_NAME}/set_prompts")
    set_parameters = client.node.create_client(SetParameters, f"{client.NODE_NAME}/set_parameters")
    try:
        for caller in (set_prompts, set_parameters):
            client.spin_until(caller.service_is_ready, 30.0, caller.srv_name)
        client.wait_until_node_discovered_us()
        for round_ in range(RACE_ROUNDS):
            by_service = SetPrompts.Request(mode=SetPrompts.Request.REPLACE, prompts=[ConceptPrompt(text=f"cup {round_}")])
            by_parameter = Parameter("prompts", Parameter.Type.STRING_ARRAY, [f"bowl {round_}"]).to_parameter_msg()
            futures = [set_prompts.call_async(by_service)]
            # Not a wait for anything: the offset between the two changes, so that in some round the
            # parameter change lands while the service call mirrors its set into the parameter.
            time.sleep(round_ * RACE_STEP_S)
            futures.append(set_parameters.call_async(SetParameters.Request(parameters=[by_parameter])))
            client.spin_until(lambda futures=futures: all(f.done() for f in futures), 30.0, f"both changes of round {round_}")
            assert futures[0].result().success and futures[1].result().results[0].successful

            active = [p.text for p in client.get_prompts()]
            parameter = client.get_parameters(["prompts"])["prompts"]
            assert active == list(parameter), f"round {round_}: the engine tracks {active}, the parameter says {parameter}"
            assert active in ([f"cup {round_}"], [f"bowl {round_}"])
    finally:  # the start prompts again, for the module's other test
        response = client.set_prompts(SetPrompts.Request.REPLACE, client.START_PROMPTS)
        client.node.destroy_client(set_prompts)
        client.node.destroy_client(set_parameters)
    assert response.success, response.message
