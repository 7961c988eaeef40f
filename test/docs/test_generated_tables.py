"""The generated parts of the docs: the parameter reference is what sam3_ros/node/parameters.py
declares, and each results table what its record in docs/results/ holds (tools/docs_tables.py)."""

import importlib.util
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("docs_tables", REPO / "tools" / "docs_tables.py")
docs_tables = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(docs_tables)


def stale_pages() -> list[str]:
    return [page.name for page, (text, regenerated) in docs_tables.pages().items() if text != regenerated]


def test_generated_parts_are_up_to_date():
    assert stale_pages() == [], "run python tools/docs_tables.py"


def test_parameter_reference_lists_every_declared_parameter():
    from sam3_ros.node.parameters import PARAMETERS

    page = (REPO / "docs" / "parameters.md").read_text()

    assert [name for name in PARAMETERS if f"| `{name}` |" not in page] == []


def test_every_result_record_is_shown_on_a_page():
    blocks = [block.group("source") for page in (REPO / "docs").glob("*.md") for block in docs_tables.BLOCK.finditer(page.read_text())]
    shown = {path.name for source in blocks if source.startswith("results/") for path in (REPO / "docs").glob(source)}

    assert sorted(path.name for path in (REPO / "docs" / "results").glob("*.json")) == sorted(shown)


def test_result_records_say_when_how_and_where():
    for path in sorted((REPO / "docs" / "results").glob("*.json")):
        record = json.loads(path.read_text())

        assert {"benchmark", "date", "command", "machine", "versions"} <= set(record), path.name


def test_a_table_record_becomes_a_table_with_its_conditions():
    record = {
        "benchmark": "example",
        "date": "2026-12-01",
        "command": "python benchmarks/example.py --json out.json",
        "machine": {"cpus": 2},
        "versions": {},
        "source": "a test",
        "columns": ["frames", "FPS"],
        "rows": [[1000, 5.5]],
        "notes": ["one note"],
    }

    assert docs_tables.table_block(record) == (
        "| frames | FPS |\n|---|---|\n| 1,000 | 5.5 |\n\n"
        "Measured 2026-12-01 with `python benchmarks/example.py`; machine: cpus: 2; versions: not recorded.\n"
        "Source: a test\n\n- one note\n"
    )
