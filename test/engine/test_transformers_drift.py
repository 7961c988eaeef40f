"""The transformers internals the engine builds on are the ones it was written and checked against.

A failure here after a transformers upgrade is expected: it names what to re-read; the steps are
in docs/transformers-upgrade.md.
"""

from pathlib import Path

import pytest

from sam3_ros.engine import transformers_drift as drift

UPGRADE_GUIDE = Path(__file__).parents[2] / "docs" / "transformers-upgrade.md"


def test_upstream_sources_are_the_ones_the_engine_was_checked_against():
    changed = drift.changed_upstream()

    if changed:
        pytest.fail(drift.drift_report(changed), pytrace=False)


def test_every_engine_place_exists():
    assert drift.missing_engine_places() == [], "renamed or removed: update its entries in sam3_ros/engine/transformers_drift.py"


def test_each_upstream_definition_is_listed_once():
    names = [dependency.upstream for dependency in drift.DEPENDENCIES]

    assert len(names) == len(set(names))


def test_refresh_finds_every_entrys_hash():
    source = Path(drift.__file__).read_text()
    recorded = {dependency.upstream: dependency.sha256 for dependency in drift.DEPENDENCIES}

    assert drift.with_hashes(source, recorded, drift.TRANSFORMERS_VERSION) == source


def test_the_upgrade_guide_shows_the_current_table():
    assert drift.markdown_table() in UPGRADE_GUIDE.read_text(), (
        "the table in docs/transformers-upgrade.md is out of date: replace it with the output of "
        "python -m sam3_ros.engine.transformers_drift --markdown"
    )
