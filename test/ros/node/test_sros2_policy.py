"""The shipped SROS2 policy (config/sros2_policy.xml) against the interfaces of the running node.

What the node offers and uses is read from the ROS graph, not listed here: every topic it publishes
or subscribes and every service it serves must be allowed to it, and, per role, its inputs to the
camera or the operator, its outputs to the operator, its services to the operator only. The node
runs with depth (so depth, camera_info and clicked_point are among its inputs), and once with
compressed images. Whether DDS then enforces the permissions is not tested: the PyPI wheels have
no security plugins.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from lifecycle_msgs.msg import Transition
from rclpy.parameter import Parameter

POLICY = Path(__file__).resolve().parents[3] / "config" / "sros2_policy.xml"
NODE_PARAMETERS = {"use_depth": True}
NODE_ENCLAVE, CAMERA_ENCLAVE, OPERATOR_ENCLAVE = "/robot/sam3", "/robot/camera", "/operator/console"
NODE_NAME, NODE_NAMESPACE = "sam3", "/"
LAST_SERVICE_OF_CONFIGURE = "/sam3/remove_object"
# The test node reads the test camera's topics; the policy names those of the launch file's
# defaults, and the compressed stream of the camera for use_compressed.
UNREMAPPED_COMPRESSED = "/image/compressed"
POLICY_CAMERA_TOPICS = {
    "image": "/camera/image_raw",
    "compressed": "/camera/image_raw/compressed",
    "depth": "/camera/aligned_depth_to_color/image_raw",
    "depth_info": "/camera/aligned_depth_to_color/camera_info",
}


@dataclass
class Grants:
    publish: set[str] = field(default_factory=set)
    subscribe: set[str] = field(default_factory=set)
    reply: set[str] = field(default_factory=set)
    request: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Interfaces:
    publishes: frozenset[str]
    subscribes: frozenset[str]
    serves: frozenset[str]
    calls: frozenset[str]


def resolve(name: str, namespace: str, node: str) -> str:
    """A policy name as SROS2 resolves it: absolute, or private to the profile's node (~/x)."""
    if name.startswith("~"):
        return f"{namespace.rstrip('/')}/{node}{name[1:]}"
    assert name.startswith("/"), f"{name}: the shipped policy uses absolute and private names only"
    return name


def policy_grants(path: Path = POLICY) -> dict[str, Grants]:
    """What each enclave of the policy file is allowed, with every name resolved."""
    root = ET.parse(path).getroot()
    assert root.tag == "policy" and root.get("version") == "0.2.0", "an SROS2 policy of format 0.2.0"
    grants = {}
    for enclave in root.findall("enclaves/enclave"):
        allowed = grants.setdefault(enclave.get("path"), Grants())
        for profile in enclave.findall("profiles/profile"):
            for rules in profile:
                assert rules.tag in ("topics", "services"), f"unexpected <{rules.tag}> in {enclave.get('path')}"
                names = {resolve(item.text.strip(), profile.get("ns"), profile.get("node")) for item in rules}
                for permission, value in rules.attrib.items():
                    assert value in ("ALLOW", "DENY"), f"{permission}={value!r} in {enclave.get('path')}"
                    if value == "ALLOW":
                        getattr(allowed, permission).update(names)
    return grants


def node_interfaces(client) -> Interfaces:
    graph = client.node
    names = lambda pairs: frozenset(name for name, _types in pairs)  # noqa: E731
    return Interfaces(
        publishes=names(graph.get_publisher_names_and_types_by_node(NODE_NAME, NODE_NAMESPACE)),
        subscribes=names(graph.get_subscriber_names_and_types_by_node(NODE_NAME, NODE_NAMESPACE)),
        serves=names(graph.get_service_names_and_types_by_node(NODE_NAME, NODE_NAMESPACE)),
        calls=names(graph.get_client_names_and_types_by_node(NODE_NAME, NODE_NAMESPACE)),
    )


def configured_interfaces(client) -> Interfaces:
    """The node's interfaces once the graph lists the last one its configure creates."""
    client.spin_until(
        lambda: LAST_SERVICE_OF_CONFIGURE in node_interfaces(client).serves,
        client.NODE_START_TIMEOUT_S,
        f"{LAST_SERVICE_OF_CONFIGURE} in the graph",
    )
    return node_interfaces(client)


def as_in_policy(interfaces: Interfaces, client) -> Interfaces:
    """The test camera's topics renamed to the policy's."""
    renamed = {
        client.IMAGE_TOPIC: POLICY_CAMERA_TOPICS["image"],
        UNREMAPPED_COMPRESSED: POLICY_CAMERA_TOPICS["compressed"],
        client.DEPTH_TOPIC: POLICY_CAMERA_TOPICS["depth"],
        client.DEPTH_INFO_TOPIC: POLICY_CAMERA_TOPICS["depth_info"],
    }
    return Interfaces(
        publishes=interfaces.publishes,
        subscribes=frozenset(renamed.get(topic, topic) for topic in interfaces.subscribes),
        serves=interfaces.serves,
        calls=interfaces.calls,
    )


def policy_gaps(interfaces: Interfaces) -> list[str]:
    """Every way the policy would keep the node, its camera or its operator from what the node does."""
    grants = policy_grants()
    node, camera, operator = grants[NODE_ENCLAVE], grants[CAMERA_ENCLAVE], grants[OPERATOR_ENCLAVE]
    gaps = [f"the node may not publish {t}" for t in sorted(interfaces.publishes - node.publish)]
    gaps += [f"the node may not subscribe to {t}" for t in sorted(interfaces.subscribes - node.subscribe)]
    gaps += [f"the node may not serve {s}" for s in sorted(interfaces.serves - node.reply)]
    gaps += [f"the node may not call {s}" for s in sorted(interfaces.calls - node.request)]
    gaps += [f"no role may publish {t}, which the node reads" for t in sorted(interfaces.subscribes - camera.publish - operator.publish)]
    gaps += [f"the operator may not subscribe to {t}" for t in sorted(interfaces.publishes - operator.subscribe)]
    gaps += [f"the operator may not call {s}" for s in sorted(interfaces.serves - operator.request)]
    gaps += [f"the camera may call {s}" for s in sorted(interfaces.serves & camera.request)]
    return gaps


def transition(client, transition_id: int) -> None:
    assert client.change_state(transition_id), f"lifecycle transition {transition_id} failed"


@contextmanager
def reconfigured(client, **parameters):
    """The node configured and active again with `parameters`; afterwards as it was before."""
    before = client.get_parameters(list(parameters))

    def configure_with(values: dict) -> None:
        transition(client, Transition.TRANSITION_DEACTIVATE)
        transition(client, Transition.TRANSITION_CLEANUP)
        client.spin_until(
            lambda: LAST_SERVICE_OF_CONFIGURE not in node_interfaces(client).serves,
            client.SERVICE_TIMEOUT_S,
            f"{LAST_SERVICE_OF_CONFIGURE} gone after cleanup",
        )
        for name, value in values.items():
            result = client.set_parameter(Parameter(name, value=value))
            assert result.successful, f"setting {name}: {result.reason}"
        transition(client, Transition.TRANSITION_CONFIGURE)
        transition(client, Transition.TRANSITION_ACTIVATE)

    configure_with(parameters)
    try:
        yield
    finally:
        configure_with(before)


def test_policy_allows_everything_the_node_with_depth_does(client):
    interfaces = configured_interfaces(client)

    assert POLICY_CAMERA_TOPICS["depth"] in as_in_policy(interfaces, client).subscribes, "the node should read depth"
    gaps = policy_gaps(as_in_policy(interfaces, client))
    assert not gaps, "config/sros2_policy.xml falls short:\n" + "\n".join(gaps)


def test_policy_allows_everything_the_node_with_compressed_images_does(client):
    with reconfigured(client, use_compressed=True):
        interfaces = configured_interfaces(client)

    assert POLICY_CAMERA_TOPICS["compressed"] in as_in_policy(interfaces, client).subscribes, "the node should read compressed images"
    gaps = policy_gaps(as_in_policy(interfaces, client))
    assert not gaps, "config/sros2_policy.xml falls short:\n" + "\n".join(gaps)


def test_policy_gaps_name_what_is_missing():
    unknown = Interfaces(
        publishes=frozenset({"/sam3/unlisted_output"}),
        subscribes=frozenset({"/unlisted_input"}),
        serves=frozenset({"/sam3/unlisted_service"}),
        calls=frozenset(),
    )

    assert policy_gaps(unknown) == [
        "the node may not publish /sam3/unlisted_output",
        "the node may not subscribe to /unlisted_input",
        "the node may not serve /sam3/unlisted_service",
        "no role may publish /unlisted_input, which the node reads",
        "the operator may not subscribe to /sam3/unlisted_output",
        "the operator may not call /sam3/unlisted_service",
    ]
