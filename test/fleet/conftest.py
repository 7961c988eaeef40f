"""The fleet tool's tests: one local Ray per test module (a module's tests share it)."""

import pytest
import ray


@pytest.fixture(scope="module")
def local_ray():
    """Ray with 2 CPUs in this process, as a notebook that has called ray.init gives the command."""
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()
