"""The demo: the real node on real footage or on a synthetic scene, recorded to an annotated video
and a track summary.

    python -m sam3_ros.demo [--model facebook/sam3|/path/to/sam3|tiny-synthetic|tiny-random]
                            [--scene bikes|synthetic] [--prompts person bicycle] [--console]

It starts the installed `sam3_ros` node as a separate process, as a launch file would, feeds it a
camera stream and records what the node publishes: output/demo.mp4 (the node's ~/debug_image) and
output/summary.json (every track id, its concept, and the frames it was seen in).
- `--scene bikes`: bikes.mp4 at its frame rate from `footage_player`, another process.
- `--scene synthetic`: a held-out synthetic scene of coloured shapes (sam3_ros.synthetic, test seed
  --seed), one frame at a time from this process so that every frame is processed; the prompts are
  the phrases that name its objects and one that names none, and the summary scores the node's
  tracks against the scene's ground truth (HOTA, IDF1, MOTA, ID switches, recall, precision).
- `--console`: also serves the operator console (`sam3ctl console`, docs/console.md) and prints its
  URL; after the recorded pass the scene plays over and over until Ctrl-C.
Without SAM 3 weights it says how to get them and runs `tiny-synthetic` (a tiny model trained on
synthetic shapes: docs/training.md) on the synthetic scene, or, where that model is not installed,
the tiny untrained model on bikes.mp4 (every frame of that video is labelled as untrained).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from sensor_msgs.msg import Image

from sam3_ros.demo.paced_camera import PacedCamera, spin_until
from sam3_ros.engine.model_loading import DEFAULT_MODEL, HOW_TO_GET_WEIGHTS, PACKAGED_MODELS, TRAINED_TINY_MODEL_NAME
from sam3_ros.engine.tiny_model import TINY_MODEL_NAME
from sam3_ros.msg import InstanceArray
from sam3_ros.node.image_conversion import rgb_from_image_msg
from sam3_ros.node.node_process import NodeProcess, executable_path, use_large_image_transport
from sam3_ros.outputs.mp4_writer import Mp4Writer
from sam3_ros.srv import GetPrompts

REPO = Path(__file__).resolve().parents[2]
CAMERA_TOPIC = "/demo/camera/image_raw"


SCENES = ("bikes", "synthetic")
SYNTHETIC_SIZE = (320, 240)
CONSOLE_START_TIMEOUT_S = 30.0


def weights_available(model: str) -> bool:
    """True if `model` is a local directory, an installed tiny model, or a hub id whose weights are cached or downloadable."""
    if model == TINY_MODEL_NAME or Path(model).is_dir():
        return True
    if model in PACKAGED_MODELS:
        return PACKAGED_MODELS[model].is_dir()
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
        self.recording = True
        self.create_subscription(InstanceArray, "/sam3/instances", self._on_instances, 50)
        self.create_subscription(Image, "/sam3/debug_image", self._on_debug_image, 50)
        self.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name.startswith("sam3:") and status.level == DiagnosticStatus.ERROR:
                self.node_error = status.message

    def _on_instances(self, msg: InstanceArray) -> None:
        if not self.recording:
            return
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
        if self.recording:
            self.video.write(rgb_from_image_msg(msg))

    def close(self) -> None:
        self.video.close()


def choose_model_and_scene(model: str, scene: str | None) -> tuple[str, str]:
    """The model that can run here (saying so when it is not the one asked for) and the scene for it:
    a tiny model trained on synthetic shapes sees only those, so it gets the synthetic scene unless
    asked otherwise."""
    if not weights_available(model):
        print(f"[demo] SAM 3 weights '{model}' are not available on this machine.\n[demo] {HOW_TO_GET_WEIGHTS}")
        if weights_available(TRAINED_TINY_MODEL_NAME):
            print(f"[demo] running '{TRAINED_TINY_MODEL_NAME}' instead: a tiny SAM 3 trained on synthetic coloured shapes only.")
            model = TRAINED_TINY_MODEL_NAME
        else:
            print("[demo] running the tiny UNTRAINED model instead: the pipeline is real, the masks are not.")
            model = TINY_MODEL_NAME
    return model, scene or ("synthetic" if model == TRAINED_TINY_MODEL_NAME else "bikes")


def _start_console(output_dir: Path) -> subprocess.Popen:
    """`sam3ctl console` (its defaults: http://127.0.0.1:8080/) for the demo's node; prints its URL."""
    log_path = output_dir / "console.log"
    with open(log_path, "wb") as log:
        # A session of its own: the terminal's Ctrl-C reaches the demo only, which then stops the console once.
        console = subprocess.Popen(
            [str(executable_path("sam3ctl")), "console"], stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
    deadline = time.monotonic() + CONSOLE_START_TIMEOUT_S
    while not (url := re.search(r"http://\S+", log_path.read_text(errors="replace"))):
        if console.poll() is not None or time.monotonic() > deadline:
            console.kill()
            raise RuntimeError(f"the operator console did not start: {log_path.read_text(errors='replace').strip()}")
        time.sleep(0.1)
    print(f"[demo] operator console: {url.group(0)}  (open it in a browser; Ctrl-C ends the demo)")
    return console


def _until_interrupted(play) -> None:
    """Run play(), which goes on until Ctrl-C."""
    try:
        play()
    except (KeyboardInterrupt, ExternalShutdownException):
        print("[demo] stopped")


def _play_bikes(recorder: DemoRecorder, output_dir: Path) -> dict:
    player = NodeProcess(output_dir / "player.log", "footage_player", remappings={"image": CAMERA_TOPIC})
    try:
        spin_until(recorder, lambda: not player.alive(), timeout=600)
        spin_until(recorder, lambda: False, timeout=3.0)  # results of the last frames still in flight
    finally:
        player.stop(timeout=10)
    return {"scene": "bikes.mp4", "frames_published": 250}


def _replay_bikes(recorder: DemoRecorder, output_dir: Path) -> None:
    player = NodeProcess(output_dir / "player.log", "footage_player", parameters={"loop": True}, remappings={"image": CAMERA_TOPIC})
    try:
        spin_until(recorder, lambda: not player.alive(), timeout=math.inf)
    finally:
        player.stop(timeout=10)


def _replay_synthetic(camera: PacedCamera, images) -> None:
    while True:
        for image in images:
            camera.send(image)


def _play_synthetic(recorder: DemoRecorder, camera: PacedCamera, sequence, images, frames, prompts) -> dict:
    from sam3_ros.synthetic.evaluation import run_tracker, tracker_summary
    from sam3_ros.synthetic.tracking_metrics import occlusion_events

    phrases = [*prompts.present, prompts.absent]
    results, seconds = run_tracker(camera.step(phrases), images, frames, prompts, occlusion_events(sequence.scene, frames))
    spin_until(recorder, lambda: False, timeout=1.0)  # the last debug images still in flight
    return {
        "scene": f"synthetic test seed {sequence.seed}",
        "frames_published": len(frames),
        "quality": tracker_summary(results, seconds, len(frames)),
    }


def run(
    model: str, scene: str, prompts: list[str] | None, output_dir: Path, seed: int = 0, frames: int = 150, console: bool = False
) -> dict:
    sequence = None
    if scene == "synthetic":
        # Imported here: the scores need TrackEval and motmetrics (development requirements), which
        # the bikes demo does without.
        from sam3_ros.synthetic import generate_sequence
        from sam3_ros.synthetic.evaluation import sequence_prompts
        from sam3_ros.synthetic.splits import TEST_SEEDS

        sequence = generate_sequence(TEST_SEEDS[seed], *SYNTHETIC_SIZE, num_frames=frames)
        images, annotations = map(list, zip(*sequence))
        scene_prompts = sequence_prompts(sequence.seed, annotations)
        prompts = [*scene_prompts.present, scene_prompts.absent]
    prompts = prompts or ["person", "bicycle"]
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
    camera = PacedCamera(recorder, CAMERA_TOPIC) if sequence is not None else None
    console_process = None
    try:
        client = recorder.create_client(GetPrompts, "/sam3/get_prompts")
        print(f"[demo] starting the sam3 node with model '{model}' (log: {output_dir / 'node.log'}) ...")
        came_up = spin_until(recorder, lambda: client.service_is_ready() or recorder.node_error or not node.alive(), timeout=600)
        if recorder.node_error or not node.alive() or not came_up:
            reason = recorder.node_error or (f"exited with code {node.process.returncode}" if not node.alive() else "timed out")
            raise RuntimeError(f"the sam3 node did not come up ({reason}); see {output_dir / 'node.log'}")
        if console:
            console_process = _start_console(output_dir)
        if sequence is None:
            print(f"[demo] node ready; playing bikes.mp4 on {CAMERA_TOPIC} with prompts {prompts}")
            played = _play_bikes(recorder, output_dir)
        else:
            print(
                f"[demo] node ready; sending {len(sequence)} frames of synthetic test seed {sequence.seed} on {CAMERA_TOPIC}, prompts {prompts}"
            )
            if not camera.wait_for_node(timeout=30):
                raise RuntimeError(f"the sam3 node did not subscribe to {CAMERA_TOPIC}; see {output_dir / 'node.log'}")
            played = _play_synthetic(recorder, camera, sequence, images, annotations, scene_prompts)
        if console:
            recorder.recording = False  # the video and the summary are of the first pass
            print("[demo] recorded; the scene plays on for the console until Ctrl-C")
            _until_interrupted(lambda: _replay_bikes(recorder, output_dir) if sequence is None else _replay_synthetic(camera, images))
    except TimeoutError as error:
        raise RuntimeError(f"{error}; see {output_dir / 'node.log'}") from error
    finally:
        if console_process is not None:
            console_process.send_signal(signal.SIGINT)
            console_process.wait(timeout=10)
        recorder.close()
        node.stop(timeout=10)
        recorder.destroy_node()
        rclpy.try_shutdown()
    summary = {
        "model": model,
        "untrained": model == TINY_MODEL_NAME,
        "prompts": prompts,
        **played,
        "results_received": recorder.results,
        "tracks": {str(track_id): track for track_id, track in sorted(recorder.tracks.items())},
    }
    (output_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def _figure(value) -> str:
    return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def _print_quality(quality: dict) -> None:
    overall = quality["overall"]
    names = ("HOTA", "IDF1", "MOTA", "id_switches", "recall", "precision")
    print("[demo] against the scene's ground truth: " + ", ".join(f"{name} {_figure(overall[name])}" for name in names))
    for phrase, scores in quality["per_prompt"].items():
        print(f"[demo]   {phrase:<16} " + "  ".join(f"{name} {_figure(scores[name])}" for name in ("HOTA", "recall", "precision")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=os.environ.get("SAM3_MODEL", DEFAULT_MODEL))
    parser.add_argument("--scene", choices=SCENES, default=None, help="default: synthetic for tiny-synthetic, else bikes")
    parser.add_argument(
        "--prompts", nargs="+", default=None, help="bikes only (default: person bicycle); a synthetic scene's are its phrases"
    )
    parser.add_argument("--seed", type=int, default=0, help="synthetic scene: the index of its held-out test seed")
    parser.add_argument("--frames", type=int, default=150, help="synthetic scene: frames to send")
    parser.add_argument("--output", type=Path, default=REPO / "output")
    parser.add_argument("--console", action="store_true", help="serve the operator console (sam3ctl console) and play until Ctrl-C")
    args = parser.parse_args()
    if args.frames < 1 or args.seed < 0:
        parser.error("--frames must be at least 1 and --seed at least 0")
    model, scene = choose_model_and_scene(args.model, args.scene)
    if scene == "synthetic" and args.prompts:
        parser.error(
            "--prompts is for --scene bikes: a synthetic scene is scored on the phrases that name its objects, and one that names none"
        )
    try:
        summary = run(model, scene, args.prompts, args.output, args.seed, args.frames, args.console)
    except RuntimeError as error:
        sys.exit(f"[demo] {error}")
    print(
        f"[demo] {summary['results_received']} results for {summary['frames_published']} published frames of {summary['scene']}"
        + (" (the node skips frames it cannot keep up with)" if scene == "bikes" else "")
    )
    for track_id, track in summary["tracks"].items():
        print(f"[demo]   #{track_id:>4} {track['concept']:<16} seen in {track['frames']} frames, best score {track['best_score']}")
    if "quality" in summary:
        _print_quality(summary["quality"])
    print(f"[demo] wrote {args.output / 'demo.mp4'} and {args.output / 'summary.json'}")
    if summary["untrained"]:
        print("[demo] (untrained model: ids and plumbing are real, masks are meaningless)")
    sys.exit(0 if summary["results_received"] > 0 else 1)
