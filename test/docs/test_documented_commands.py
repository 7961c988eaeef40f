"""The commands the docs show are accepted by what they call: every sam3ctl command parses with
sam3ctl's own arguments, every `ros2 service call` request fits its service's type, and every
parameter set on a command line is one the node declares."""

import importlib
import re
import shlex
from pathlib import Path

import pytest
import yaml

from sam3_ros.cli.main import parser as sam3ctl_parser
from sam3_ros.node.parameters import PARAMETERS

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
CODE_BLOCK = re.compile(r"^```(?:bash|sh)?\n(.*?)^```", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`([^`\n]+)`")


def command_lines(page: Path) -> list[str]:
    """Shell lines of a page: its code blocks (continuations joined) and its inline code."""
    text = page.read_text()
    lines = []
    for block in CODE_BLOCK.findall(text):
        lines += block.replace("\\\n", " ").splitlines()
    lines += INLINE_CODE.findall(CODE_BLOCK.sub("", text))
    return lines


def documented(program: str) -> list[tuple[str, list[str]]]:
    """(page, arguments after `program`) for every complete documented command line that runs it:
    not a bare name, nor one with `...` standing for the rest."""
    found = []
    for page in PAGES:
        for line in command_lines(page):
            try:
                words = shlex.split(line, comments=True)
            except ValueError:  # inline code that is no shell line, e.g. a lone quote
                continue
            if program in words[:-1] and not any("..." in word for word in words):
                found.append((page.name, words[words.index(program) + 1 :]))
    return found


def ros2_service_calls() -> list[tuple[str, list[str]]]:
    return [(page, words[2:]) for page, words in documented("ros2") if words[:2] == ["service", "call"] and len(words) > 3]


def message_class(name: str):
    package, _, type_name = name.partition("/")
    return getattr(importlib.import_module(f"{package}.msg"), type_name)


def fill(message, values: dict):
    """Set a message's fields from a request as `ros2 service call` reads it (YAML)."""
    fields = message.get_fields_and_field_types()
    for name, value in values.items():
        assert name in fields, f"{type(message).__name__} has no field '{name}' (it has {', '.join(fields)})"
        element = fields[name].removeprefix("sequence<").removesuffix(">")
        is_sequence = fields[name].startswith("sequence<")
        if "/" in element:
            cls = message_class(element)
            setattr(message, name, [fill(cls(), item) for item in value] if is_sequence else fill(getattr(message, name), value))
        else:
            cast = float if element in ("float", "double") else (lambda v: v)
            setattr(message, name, [cast(v) for v in value] if is_sequence else cast(value))
    return message


def snake_case(type_name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type_name).lower()


def test_every_sam3ctl_command_parses():
    commands = documented("sam3ctl")
    refused = []
    for page, arguments in commands:
        try:
            sam3ctl_parser().parse_args(arguments)
        except SystemExit:
            refused.append(f"{page}: sam3ctl {shlex.join(arguments)}")

    assert len(commands) > 10, "the docs should show sam3ctl"
    assert not refused, "sam3ctl refuses these documented commands:\n" + "\n".join(refused)


def test_every_service_call_fits_its_service():
    calls = ros2_service_calls()
    for page, (service, srv_type, *request) in calls:
        package, _, type_name = srv_type.partition("/srv/")
        service_class = getattr(importlib.import_module(f"{package}.srv"), type_name)

        assert service.rsplit("/", 1)[-1] == snake_case(type_name), f"{page}: {service} is not a {srv_type} service"
        fill(service_class.Request(), yaml.safe_load(request[0]) if request else {})

    assert len(calls) > 5, "the docs should show ros2 service calls"


def test_a_request_with_a_wrong_field_is_caught():
    from sam3_ros.srv import SetPrompts

    with pytest.raises(AssertionError, match="ConceptPrompt has no field 'txt'"):
        fill(SetPrompts.Request(), yaml.safe_load("{mode: 1, prompts: [{txt: cup}]}"))


def test_every_parameter_on_a_command_line_is_declared():
    names = []
    for _page, arguments in documented("sam3_ros") + documented("ros2"):
        names += [argument.split(":=")[0] for previous, argument in zip(arguments, arguments[1:]) if previous == "-p"]
    names += [arguments[3] for _page, arguments in documented("ros2") if arguments[:2] == ["param", "set"] and len(arguments) > 3]

    assert names, "the docs should set parameters"
    assert sorted(set(names) - set(PARAMETERS)) == []
