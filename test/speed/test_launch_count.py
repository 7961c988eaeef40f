"""The launch counter: what it counts as a host sync on an emulated accelerator, and the benchmark around it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

from launch_counter import EmulatedAccelerator  # noqa: E402


def count(work):
    """Counts of `work(device)`, run under inference_mode on the emulated accelerator."""
    accelerator = EmulatedAccelerator()
    with accelerator:
        accelerator.start_frame()
        with torch.inference_mode():
            work(accelerator.device)
        return accelerator.end_frame()


def test_each_kind_of_host_sync_is_counted_once_where_it_is_issued():
    def work(device):
        x = torch.arange(6.0).to(device, non_blocking=True)  # an upload that does not wait
        y = x * 2
        y.sum().item()
        y.tolist()
        y[y > 3]
        torch.where(y > 3)
        torch.tensor([1, 2], device=device)  # a blocking upload
        y.cpu()

    counts = count(work)
    assert dict(counts.syncs) == {
        "item": 1,
        "device_to_host": 2,
        "boolean_mask_index": 1,
        "nonzero": 1,
        "blocking_host_to_device": 1,
    }
    assert counts.host_to_device_async == 1
    assert all("test_launch_count.py" in site for _, site in counts.sync_sites)  # where they are issued


def test_device_work_without_syncs_counts_operators_only():
    def work(device):
        x = torch.zeros(4, 4, device=device)
        (x @ x).relu_().sum(dim=0)

    counts = count(work)
    assert counts.total_syncs == 0
    assert counts.device_ops == 4 and counts.host_ops == 0  # zeros, mm, relu_, sum


def test_results_are_the_cpus_and_host_data_stays_on_the_host():
    accelerator = EmulatedAccelerator()
    with accelerator:
        on_device = torch.linspace(0, 1, 5).to(accelerator.device)
        result = (on_device * 3).cpu()
        assert on_device.device == accelerator.device and result.device.type == "cpu"
        assert torch.equal(result, torch.linspace(0, 1, 5) * 3)


def test_what_would_fail_on_a_gpu_fails_here():
    accelerator = EmulatedAccelerator()
    with accelerator:
        on_device = torch.ones(3).to(accelerator.device)
        with pytest.raises(RuntimeError, match="same device"):
            on_device + torch.ones(3)
        with pytest.raises(TypeError, match="numpy"):
            on_device.numpy()
        assert (on_device + torch.tensor(2.0)).cpu().tolist() == [3.0, 3.0, 3.0]  # host scalars are fine


def run_benchmark(out: Path) -> subprocess.CompletedProcess:
    """The tests' tiny model, one small point, one counted frame: about 10 s of CPU."""
    command = [
        sys.executable,
        str(BENCHMARKS / "launch_count.py"),
        "--architecture",
        "tiny",
        "--grid",
        "1x2",
        "--warmup",
        "1",
        "--frames",
        "1",
        "--resolution",
        "320x180",
        "--threads",
        "1",
        "--json",
        str(out),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})


def test_launch_count_writes_a_table_and_json_that_a_second_run_reproduces(tmp_path):
    first, second = run_benchmark(tmp_path / "first.json"), run_benchmark(tmp_path / "second.json")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "device ops" in first.stdout and "syncs by kind" in first.stdout
    report = json.loads((tmp_path / "first.json").read_text())
    assert report["accelerator"] == "emulated on the CPU"
    assert [(p["prompts"], p["objects"]) for p in report["points"]] == [(1, 2)]
    for point in report["points"]:
        for impl in ("engine", "plain"):
            result = point[impl]
            assert result["device_ops"] > 100 and result["syncs"] > 0
            assert result["device_ops_decomposed"] >= result["device_ops"]
            assert result["tracked_objects"]["max"] == point["objects"]
            assert sum(site["per_frame"] for site in result["sync_sites"]) == result["syncs"]
    assert second.returncode == 0
    assert json.loads((tmp_path / "second.json").read_text())["points"] == report["points"]  # deterministic
