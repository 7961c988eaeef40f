"""Full ROS 2 message definitions, as rosbag2 and MCAP ("ros2msg" schemas) store them.

A recording carries the definition of every type it holds so that tools without the ROS packages
(Foxglove, rosbags, mcap-ros2-support) can decode it: the type's own .msg text, then the text of
every type it uses, directly or not, each once, after a line of 80 '=' and a line
`MSG: package/Type`. The .msg files are the ones the packages install into their share folders
(found through the ament index), so the text is what those packages publish.
"""

from __future__ import annotations

import re
from pathlib import Path

from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

_SEPARATOR = "=" * 80
_PRIMITIVES = {
    "bool", "byte", "char", "float32", "float64", "int8", "uint8", "int16", "uint16",
    "int32", "uint32", "int64", "uint64", "string", "wstring",
}  # fmt: skip
# "uint8[] data", "float64[9] k", "Point[<=10] p", "string<=8 name": the array and bound suffixes.
_ARRAY_OR_BOUND = re.compile(r"(\[[^\]]*\]|<=\d+)+$")


def _split_type(name: str) -> tuple[str, str]:
    """`pkg/msg/Type` or `pkg/Type` -> (pkg, Type)."""
    parts = name.split("/")
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[1] != "msg"):
        raise ValueError(f"'{name}' is not a message type name like 'std_msgs/msg/Header'")
    return parts[0], parts[-1]


def message_text(package: str, type_name: str) -> str:
    """The .msg file of `package/Type` as its package installed it."""
    try:
        share = Path(get_package_share_directory(package))
    except PackageNotFoundError as error:
        raise LookupError(f"package '{package}' is not installed (not in the ament index; source its setup file)") from error
    path = share / "msg" / f"{type_name}.msg"
    if not path.is_file():
        raise LookupError(f"{path} does not exist: '{package}' has no message '{type_name}'")
    return path.read_text()


def _used_types(text: str, package: str) -> list[tuple[str, str]]:
    """The non-primitive field types of a .msg text, as (package, Type), in field order."""
    used = []
    for line in text.splitlines():
        tokens = line.split("#", 1)[0].split()
        if not tokens:
            continue
        base = _ARRAY_OR_BOUND.sub("", tokens[0])
        if base in _PRIMITIVES:
            continue
        used.append(_split_type(base) if "/" in base else (package, base))
    return used


def full_message_definition(type_name: str) -> str:
    """The concatenated definition of `type_name` (e.g. 'sam3_ros/msg/InstanceArray')."""
    root = _split_type(type_name)
    texts: dict[tuple[str, str], str] = {}
    pending = [root]
    while pending:  # depth first, so each dependency follows the first type that uses it
        current = pending.pop()
        if current in texts:
            continue
        texts[current] = message_text(*current).rstrip("\n")
        pending.extend(reversed(_used_types(texts[current], current[0])))
    parts = [texts.pop(root)]
    parts += [f"{_SEPARATOR}\nMSG: {package}/{name}\n{text}" for (package, name), text in texts.items()]
    return "\n".join(parts) + "\n"
