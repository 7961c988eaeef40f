"""The demo: the real node on real footage, recorded to an annotated video and a track summary.

    python -m sam3_ros.demo [--model facebook/sam3|/path/to/sam3|tiny-random] [--prompts person bicycle]

It starts the installed `sam3_ros` node and `footage_player` (bikes.mp4 at its frame rate) as
separate processes, as a launch file would, and records what the node publishes:
output/demo.mp4 (the node's ~/debug_image) and output/summary.json (every track id, its concept,
and the frames it was seen in). Without SAM 3 weights it says how to get them and runs the tiny
untrained model; every frame of that video is labelled as untrained.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.node import Node
from sensor_msgs.msg import Image

from sam3_ros.engine.model_loading import DEFAULT_MODEL, HOW_TO_GET_WEIGHTS
from sam3_ros.engine.tiny_model import TINY_MODEL_NAME
from sam3_ros.msg import InstanceArray
from sam3_ros.node.image_conversion import rgb_from_image_msg
from sam3_ros.node.node_process import NodeProcess, use_large_image_transport
from sam3_ros.outputs.mp4_writer import Mp4Writer
from sam3_ros.srv import GetPrompts

REPO = Path(__file__).resolve().parents[2]
CAMERA_TOPIC = "/demo/camera/image_raw"


def weights_available(model: str) -> bool:
    """True if `model` is a local directory or a hub id whose weights are cached or downloadable."""
    if model == TINY_MODEL_NAME or Path(model).is_dir():
        return True
    from huggingface_hub import get_token, snapshot_download

    try:
        snapshot_download(model, local_files_only=True)
        return True
    except Exception:  # noqa: BLE001 - any failure means "not cached"
        return os.environ.get("HF_HUB_OFFLINE") != "1" and get_token() is not None


class DemoRecorder(Node):
    def __init__(self, output: Path):
        super().__init__("sam3_demo_recorder")
        self.video = Mp4Writer(output, fps=25.0)  # bikes.mp4's rate
        self.results = 0
        self.tracks: dict[int, dict] = {}
        self.node_error = ""  # the node's diagnostics ERROR message, e.g. a failed configure
        self.create_subscription(InstanceArray, "/sam3/instances", self._on_instances, 50)
        self.create_subscription(Image, "/sam3/debug_image", self._on_debug_image, 50)
        self.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name.startswith("sam3:") and status.level == DiagnosticStatus.ERROR:
                self.node_error = status.message

    def _on_instances(self, msg: InstanceArray) -> None:
        self.results += 1
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        for instance in msg.instances:
            track = self.tracks.setdefault(
                instance.id, {"concept": instance.prompt_text, "first_stamp": stamp, "frames": 0, "best_score": 0.0}
            )
            track["last_stamp"] = stamp
            track["frames"] += 1
            track["best_score"] = max(track["best_score"], round(float(instance.score), 3))

    def _on_debug_image(self, msg: Image) -> None:
        self.video.write(rgb_from_image_msg(msg))

    def close(self) -> None:
        self.video.close()


def _spin_until(node: Node, done, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return True
        rclpy.spin_once(node, timeout_sec=0.1)
    return done()


def run(model: str, prompts: list[str], output_dir: Path) -> dict:
    if not weights_available(model):
        print(f"[demo] SAM 3 weights '{model}' are not available on this machine.\n[demo] {HOW_TO_GET_WEIGHTS}")
        print("[demo] running the tiny UNTRAINED model instead: the pipeline is real, the masks are not.")
        model = TINY_MODEL_NAME
    output_dir.mkdir(parents=True, exist_ok=True)
    node = NodeProcess(
        output_dir / "node.log",
        params_file=REPO / "config" / "sam3.yaml",
        parameters={"model": model, "prompts": prompts},
        remappings={"image": CAMERA_TOPIC},
    )
    use_large_image_transport()  # this process's recorder and the node's children alike
    rclpy.init()
    recorder = DemoRecorder(output_dir / "demo.mp4")
    player = None
    try:
        client = recorder.create_client(GetPrompts, "/sam3/get_prompts")
        print(f"[demo] starting the sam3 node with model '{model}' (log: {output_dir / 'node.log'}) ...")
        came_up = _spin_until(recorder, lambda: client.service_is_ready() or recorder.node_error or not node.alive(), timeout=600)
        if recorder.node_error or not node.alive() or not came_up:
            reason = recorder.node_error or (f"exited with code {node.process.returncode}" if not node.alive() else "timed out")
            raise RuntimeError(f"the sam3 node did not come up ({reason}); see {output_dir / 'node.log'}")
        print(f"[demo] node ready; playing bikes.mp4 on {CAMERA_TOPIC} with prompts {prompts}")
        player = NodeProcess(output_dir / "player.log", "footage_player", remappings={"image": CAMERA_TOPIC})
        _spin_until(recorder, lambda: not player.alive(), timeout=600)
        _spin_until(recorder, lambda: False, timeout=3.0)  # results of the last frames still in flight
    finally:
        recorder.close()
        for process in (player, node):
            if process is not None:
                process.stop(timeout=10)
        recorder.destroy_node()
        rclpy.try_shutdown()
    summary = {
        "model": model,
        "untrained": model == TINY_MODEL_NAME,
        "prompts": prompts,
        "frames_published": 250,
        "results_received": recorder.results,
        "tracks": {str(track_id): track for track_id, track in sorted(recorder.tracks.items())},
    }
    (output_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=os.environ.get("SAM3_MODEL", DEFAULT_MODEL))
    parser.add_argument("--prompts", nargs="+", default=["person", "bicycle"])
    parser.add_argument("--output", type=Path, default=REPO / "output")
    args = parser.parse_args()
    try:
        summary = run(args.model, args.prompts, args.output)
    except RuntimeError as error:
        sys.exit(f"[demo] {error}")
    print(
        f"[demo] {summary['results_received']} results for {summary['frames_published']} published frames "
        "(the node skips frames it cannot keep up with)"
    )
    for track_id, track in summary["tracks"].items():
        print(f"[demo]   #{track_id:>4} {track['concept']:<12} seen in {track['frames']} frames, best score {track['best_score']}")
    print(f"[demo] wrote {args.output / 'demo.mp4'} and {args.output / 'summary.json'}")
    if summary["untrained"]:
        print("[demo] (untrained model: ids and plumbing are real, masks are meaningless)")
    sys.exit(0 if summary["results_received"] > 0 else 1)
