"""The single-recording annotation tool in this distro's environment (its fixtures: test/annotate_fixtures.py)."""

import pytest


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread(tool_env):
    """Every test here runs the tool on one torch thread, as its subprocesses do (tool_env)."""
