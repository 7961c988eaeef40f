"""The generated parts of the docs pages: the parameter reference and the tables of results.

    python tools/docs_tables.py           # rewrite them in docs/*.md (after `source scripts/activate.sh`)
    python tools/docs_tables.py --check   # exit 1 naming each page that is out of date

A page marks each generated part with two comments; what lies between them is replaced:

    <!-- generated: parameters -->                     from sam3_ros/node/parameters.py and config/sam3.yaml
    <!-- generated: results/launch-counts.json -->     from one record of docs/results/
    <!-- generated: results/soak-ci-config-*.json -->  from the soak records (benchmarks/soak.py --json)
    <!-- generated: results/tracking-quality.json -->  from a benchmarks/tracking_quality.py --json record
    <!-- end generated -->

A record of docs/results/ is either a benchmark's own JSON with its date, command, machine and
versions (the soak's), or a table: `columns`, `rows`, the same four fields, `source` (where the
figures come from) and `notes`. test/docs/test_generated_tables.py fails when a page differs from
what this tool would write.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
PARAMS_FILE = REPO / "config" / "sam3.yaml"
BLOCK = re.compile(r"(<!-- generated: (?P<source>\S+) -->\n)(?P<body>.*?)(<!-- end generated -->)", re.DOTALL)
INT32_MAX = 2**31 - 1


def cell(value) -> str:
    """A value in a table cell: thousands separated, pipes escaped."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if value is None:
        return ""
    return str(value).replace("|", "\\|")


def table(columns: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


# -- parameters ---------------------------------------------------------------------------------


def yaml_value(value) -> str:
    """A parameter value as config/sam3.yaml and `-p name:=value` write it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value or '""'
    return json.dumps(value) if isinstance(value, list) else repr(value)


def parameter_range(extra: dict) -> str:
    for kind in ("integer_range", "floating_point_range"):
        if kind in extra:
            (bounds,) = extra[kind]
            low, high = (f"{bounds.from_value:g}", f"{bounds.to_value:g}")
            return f"≥ {low}" if bounds.to_value == INT32_MAX else f"{low} to {high}"
    return ""


def parameters_block() -> str:
    from rclpy.parameter import Parameter

    from sam3_ros.node.parameters import PARAMETERS

    rows, configured = [], yaml.safe_load(PARAMS_FILE.read_text())["/**"]["ros__parameters"]
    differences = []
    for name, (default, description, extra) in PARAMETERS.items():
        declared_without_value = isinstance(default, Parameter.Type)
        kind = default if declared_without_value else Parameter.Type.from_parameter_value(default)
        shown_default = "unset" if declared_without_value else f"`{yaml_value(default)}`"
        rows.append([f"`{name}`", kind.name.lower().replace("_", " "), shown_default, parameter_range(extra), description])
        if name not in configured:
            differences.append(f"`{name}` is not in it")
        elif declared_without_value or configured[name] != default:
            differences.append(f"`{name}: {yaml_value(configured[name])}`")
    extra_names = sorted(set(configured) - set(PARAMETERS))
    differences += [f"`{name}` is no parameter of the node" for name in extra_names]
    summary = "`config/sam3.yaml` sets every parameter to its default"
    summary += f", except {', '.join(differences)}.\n" if differences else ".\n"
    return table(["parameter", "type", "default", "range", "description"], rows) + "\n" + summary


# -- results ------------------------------------------------------------------------------------


def conditions(records: list[dict]) -> str:
    """When, how and where the figures were measured, once for values the records share."""

    def distinct(values) -> str:
        return "; ".join(dict.fromkeys(values))

    def pairs(mapping: dict) -> str:
        return ", ".join(f"{key}: {value}" for key, value in mapping.items() if value != "") or "not recorded"

    # Where the record went is no condition of the measurement.
    # Where a run wrote its record and log says nothing about what was measured.
    commands = [re.sub(r" --(json|node-log) \S+", "", record["command"]) for record in records]
    return (
        f"Measured {distinct(record['date'][:10] for record in records)} with `{distinct(commands)}`; "
        f"machine: {distinct(pairs(record['machine']) for record in records)}; "
        f"versions: {distinct(pairs(record['versions']) for record in records)}.\n"
    )


def soak_block(paths: list[Path], records: list[dict]) -> str:
    rows = []
    for path, record in zip(paths, records):
        summary = record["summary"]
        verdict = "FAIL: " + "; ".join(record["failures"]) if record["failures"] else "PASS"
        rows.append(
            [
                f"`{path.name}`",
                record["versions"]["rclpy"],
                summary["processed (instances received)"],
                summary["rss first / last (MiB)"],
                summary["rss slope after warm-up (MiB per 1,000 processed frames)"],
                summary["rss bound (MiB per 1,000 processed frames)"],
                verdict,
            ]
        )
    columns = ["record", "rclpy", "processed", "RSS first / last (MiB)", "slope after warm-up (MiB per 1,000)", "bound", "verdict"]
    return table(columns, rows) + "\n" + conditions(records)


QUALITY_COLUMNS = ("HOTA", "DetA", "AssA", "LocA", "IDF1", "MOTA", "id_switches", "recall", "precision")


def quality_block(record: dict) -> str:
    """A tracking_quality record (benchmarks/tracking_quality.py --json): each tracker's overall figures."""
    rows = [
        [f"`{tracker}`", *(figure(figures["overall"][name]) for name in QUALITY_COLUMNS), f"{figures['ms_per_frame']:.0f}"]
        for tracker, figures in record["summary"].items()
    ]
    sequences = record["sequences"]
    text = table(["tracker", *QUALITY_COLUMNS, "ms per frame"], rows) + "\n"
    text += (
        f"Model `{record['arguments']['model']}`, {len(sequences)} {record['arguments']['split']} sequences "
        f"(seeds {sequences[0]['seed']}-{sequences[-1]['seed']}) of {record['arguments']['frames']} frames at "
        f"{'x'.join(map(str, record['arguments']['resolution']))}. "
    )
    return text + conditions([record])


def figure(value) -> str:
    return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else cell(value)


def table_block(record: dict) -> str:
    text = table(record["columns"], record["rows"]) + "\n" + conditions([record])
    text += f"Source: {record['source']}\n"
    return text + "".join(f"\n- {note}" for note in record["notes"]) + ("\n" if record["notes"] else "")


def results_block(pattern: str) -> str:
    paths = sorted(DOCS.glob(pattern))
    if not paths:
        raise ValueError(f"no record matches docs/{pattern}")
    records = [json.loads(path.read_text()) for path in paths]
    if len(records) == 1 and "columns" in records[0]:
        return table_block(records[0])
    if len(records) == 1 and records[0].get("benchmark") == "tracking_quality":
        return quality_block(records[0])
    if all(record.get("benchmark") == "soak" and "summary" in record for record in records):
        return soak_block(paths, records)
    raise ValueError(f"docs/{pattern}: one table or tracking_quality record, or soak records of benchmarks/soak.py --json")


# -- pages --------------------------------------------------------------------------------------


def generated(source: str) -> str:
    if source == "parameters":
        return parameters_block()
    if source.startswith("results/"):
        return results_block(source)
    raise ValueError(f"unknown generated block '{source}'")


def regenerate(text: str) -> str:
    return BLOCK.sub(lambda match: match.group(1) + "\n" + generated(match.group("source")) + "\n" + match.group(4), text)


def pages() -> dict[Path, tuple[str, str]]:
    """Every docs page with generated parts: (what it holds, what this tool would write)."""
    found = {}
    for page in sorted(DOCS.glob("*.md")):
        text = page.read_text()
        if BLOCK.search(text):
            found[page] = (text, regenerate(text))
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only say which pages are out of date")
    args = parser.parse_args(argv)
    found = pages()
    stale = [page for page, (text, new) in found.items() if text != new]
    for page in stale:
        if args.check:
            print(f"{page.relative_to(REPO)} is out of date: run python tools/docs_tables.py")
        else:
            page.write_text(found[page][1])
            print(f"rewrote {page.relative_to(REPO)}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
