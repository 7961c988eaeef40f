"""The architecture is a checked contract: the engine and the output encodings never import ROS,
and the layers only import downwards (tools -> node -> outputs -> engine). See .importlinter."""

import subprocess
import sys
from pathlib import Path

CONFIG = Path(__file__).resolve().parents[1] / ".importlinter"


def test_import_contracts_are_kept(tmp_path):
    # Run outside the source tree, so that sam3_ros is the installed package with its generated
    # sam3_ros.msg / sam3_ros.srv (the contracts name them), as the node imports it.
    lint_imports = Path(sys.executable).parent / "lint-imports"
    run = subprocess.run(
        [str(lint_imports), "--config", str(CONFIG), "--no-cache"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout
