"""Soak test of the real node: thousands of frames through a real ROS 2 graph while prompts change.

    python benchmarks/soak.py --frames 20000            # about 11 min at the default 30 Hz
    python benchmarks/soak.py --processed 100000 --frames 0 --progress-every 5000   # hours; ends on SIGTERM too
    python benchmarks/soak.py --frames 0 --processed 4000 --warmup 1500 --rss-bound 6 --json soak.json   # CI's memory check
    python benchmarks/soak.py --frames 0 --processed 3000 --paced   # every frame processed, none dropped

Starts the installed sam3 node (tiny model, config/sam3.yaml) as a subprocess on an isolated
ROS_DOMAIN_ID. In this process three nodes talk to it: a camera publishes bikes.mp4 (downscaled,
looped) at a fixed rate (with --paced: each frame once the last one's result arrived, at most at
that rate); an operator changes the prompts every --prompt-every frames (a REPLACE,
ADD, REMOVE cycle); a viewer subscribes to everything the node publishes (instances, label and
debug images, markers, diagnostics). The node's RSS is sampled from /proc/PID/statm as frames go.

Prints a summary (one `key: value` per line) and exits non-zero if the node crashed or did not exit
cleanly, a service call went unanswered, no frame was processed, or RSS grew faster than
--rss-bound MiB per 1,000 processed frames after the first --warmup processed frames (the torch
allocator and DDS buffers settle first).
--json writes the summary, the arguments, the RSS samples and the versions to a file. The node
keeps only the newest frame, so at rates above its speed frames are dropped by design; `processed` counts the InstanceArrays received.
A long run stops at --frames published or --processed results, whichever comes first (0: no limit);
SIGTERM ends it early with the same summary.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import itertools
import json
import os
import platform
import random
import resource
import signal
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sam3_ros.msg import ConceptPrompt, InstanceArray
from sam3_ros.srv import GetPrompts, SetPrompts
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from sam3_ros.demo.sample_footage import bikes_video_path, read_rgb_frames
from sam3_ros.node.image_conversion import image_msg_from_array
from sam3_ros.node.message_conversion import node_status_name
from sam3_ros.node.node_process import NodeProcess, use_large_image_transport

REPO_ROOT = Path(__file__).resolve().parents[1]
PARAMS_FILE = REPO_ROOT / "config" / "sam3.yaml"
IMAGE_TOPIC = "/soak_camera/image_raw"
START_PROMPTS = ["person", "bicycle"]
REQ = SetPrompts.Request
# The operator's cycle: each step is (mode, texts); it ends where it started.
PROMPT_CYCLE = (
    (REQ.REPLACE, ["person", "bicycle", "car"]),
    (REQ.ADD, ["dog"]),
    (REQ.REMOVE, ["car"]),
    (REQ.REPLACE, START_PROMPTS),
)
CALL_TIMEOUT_S = 20.0
START_TIMEOUT_S = 120.0
DRAIN_S = 5.0  # after the last frame, for its result to arrive
PACED_TIMEOUT_S = 2.0  # --paced: a frame whose result does not come within this is counted as dropped


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=20000, help="frames to publish (0: no limit)")
    parser.add_argument("--processed", type=int, default=0, help="stop once this many results arrived (0: no limit)")
    parser.add_argument("--rate", type=float, default=30.0, help="frames per second published")
    parser.add_argument("--size", default="160x68", help="frame size WxH (bikes.mp4 is 640x272)")
    parser.add_argument("--prompt-every", type=int, default=300, help="frames between prompt changes")
    parser.add_argument("--sample-every", type=int, default=50, help="frames between RSS samples")
    parser.add_argument("--progress-every", type=int, default=0, help="frames between progress lines on stderr (0: none)")
    parser.add_argument(
        "--paced",
        action="store_true",
        help=f"publish the next frame once the last one's result arrived (or after {PACED_TIMEOUT_S:g} s), at most at --rate: "
        "every frame is processed, so the memory per processed frame does not depend on how loaded the machine is",
    )
    parser.add_argument("--rss-bound", type=float, default=1.0, help="MiB of RSS growth per 1,000 processed frames allowed after warm-up")
    parser.add_argument("--warmup", type=int, default=None, help="processed frames before the slope is measured (default: half the run)")
    parser.add_argument("--json", type=Path, default=None, help="also write the summary, arguments and RSS samples here")
    parser.add_argument("--node-log", type=Path, default=None, help="where the node's output goes (default: a temp file)")
    return parser.parse_args(argv)


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def rss_slope_per_1000(samples: list[tuple[int, float]], warmup: int | None = None, windows: int = 10) -> float:
    """MiB per 1,000 frames over the (frames, RSS) samples after `warmup` frames (default: the second half).

    RSS moves by a few MiB from sample to sample (allocator arenas, DDS buffers), which swamps a
    least-squares fit of half a run; a line through the medians of consecutive windows is not
    pulled by those excursions and still follows a steady growth.
    """
    half = samples[len(samples) // 2 :] if warmup is None else [s for s in samples if s[0] >= warmup]
    if len(half) < 2:
        return 0.0
    chunks = [chunk for chunk in np.array_split(np.asarray(half, dtype=float), min(windows, len(half))) if len(chunk)]
    medians = np.array([np.median(chunk, axis=0) for chunk in chunks])
    if np.ptp(medians[:, 0]) == 0:
        return 0.0
    return float(np.polyfit(medians[:, 0], medians[:, 1], 1)[0]) * 1_000


class Counters:
    def __init__(self):
        self.lock = threading.Lock()
        self.received = {"instances": 0, "label_image": 0, "debug_image": 0, "markers": 0, "diagnostics": 0}
        self.last_diagnostics: dict[str, str] = {}

    def processed(self) -> int:
        with self.lock:
            return self.received["instances"]

    def count(self, topic: str):
        def callback(msg) -> None:
            with self.lock:
                self.received[topic] += 1
                if topic == "diagnostics":
                    for status in msg.status:
                        if status.name == node_status_name("sam3"):
                            self.last_diagnostics = {kv.key: kv.value for kv in status.values}

        return callback


def viewer(context, counters: Counters) -> Node:
    node = Node("soak_viewer", context=context)
    qos = QoSProfile(depth=10)
    for msg_type, topic, name in (
        (InstanceArray, "/sam3/instances", "instances"),
        (Image, "/sam3/label_image", "label_image"),
        (Image, "/sam3/debug_image", "debug_image"),
        (MarkerArray, "/sam3/markers", "markers"),
        (DiagnosticArray, "/diagnostics", "diagnostics"),
    ):
        node.create_subscription(msg_type, topic, counters.count(name), qos)
    return node


def wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.002)
    return condition()


def run(args) -> tuple[dict, list[tuple[int, float]]]:
    """The summary and the (processed frames, node RSS in MiB) samples."""
    width, height = (int(v) for v in args.size.split("x"))
    clips, _fps = read_rgb_frames(bikes_video_path())
    frames = [cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA) for f in clips]
    domain_id = int(os.environ.get("SAM3_SOAK_ROS_DOMAIN_ID", random.SystemRandom().randrange(150, 230)))
    log_path = args.node_log or Path(f"/tmp/sam3_soak_{os.getpid()}.log")
    process = NodeProcess(
        log_path,
        params_file=PARAMS_FILE,
        parameters={"model": "tiny-random", "prompts": START_PROMPTS},
        remappings={"image": IMAGE_TOPIC},
        domain_id=domain_id,
        env=dict(os.environ, ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", HF_HUB_OFFLINE="1"),
    )
    use_large_image_transport()
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain_id)
    counters = Counters()
    camera = Node("soak_camera", context=context)
    operator = Node("soak_operator", context=context)
    image_pub = camera.create_publisher(Image, IMAGE_TOPIC, QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE))
    set_prompts = operator.create_client(SetPrompts, "/sam3/set_prompts")
    get_prompts = operator.create_client(GetPrompts, "/sam3/get_prompts")
    executor = MultiThreadedExecutor(num_threads=2, context=context)
    for node in (camera, operator, viewer(context, counters)):
        executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    stats = {"frames published": 0, "calls made": 0, "calls answered": 0, "calls refused": 0, "crashed": False}
    samples: list[tuple[int, float]] = []  # (frames processed, node RSS in MiB)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not (set_prompts.service_is_ready() and image_pub.get_subscription_count() > 0):
            if not process.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the node did not come up; log {log_path}")
            time.sleep(0.1)
        time.sleep(1.0)  # discovery of the remaining endpoints
        start = time.monotonic()
        period = 1.0 / args.rate
        for index in itertools.count():
            processed = counters.processed()
            if stop.is_set() or (args.frames and index == args.frames) or (args.processed and processed >= args.processed):
                break
            if not process.alive():
                stats["crashed"] = True
                break
            header = Header(frame_id="soak_camera", stamp=camera.get_clock().now().to_msg())
            image_pub.publish(image_msg_from_array(frames[index % len(frames)], "rgb8", header))
            stats["frames published"] += 1
            if args.paced:
                wait_until(lambda last=processed: counters.processed() > last, PACED_TIMEOUT_S)
            if index and index % args.prompt_every == 0:
                mode, texts = PROMPT_CYCLE[(index // args.prompt_every - 1) % len(PROMPT_CYCLE)]
                request = SetPrompts.Request(mode=mode, prompts=[ConceptPrompt(text=t) for t in texts])
                for client, req in ((set_prompts, request), (get_prompts, GetPrompts.Request())):
                    stats["calls made"] += 1
                    future = client.call_async(req)
                    if wait_until(future.done, CALL_TIMEOUT_S):
                        stats["calls answered"] += 1
                        stats["calls refused"] += int(getattr(future.result(), "success", True) is False)
            if index % args.sample_every == 0:
                samples.append((processed, rss_mib(process.pid)))
            if args.progress_every and index % args.progress_every == 0:
                print(
                    f"frame {index}: {processed} processed, rss {samples[-1][1]:.1f} MiB, {time.monotonic() - start:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
            # Fixed rate: sleep to the frame's slot, not a fixed gap (publishing takes time too).
            time.sleep(max(0.0, start + (index + 1) * period - time.monotonic()))
        time.sleep(DRAIN_S)
        duration = time.monotonic() - start
        stats["crashed"] = stats["crashed"] or not process.alive()
    finally:
        exit_code = process.stop()
        executor.shutdown(timeout_sec=2.0)
        context.try_shutdown()
    with counters.lock:
        received, diagnostics = dict(counters.received), dict(counters.last_diagnostics)
    stats.update(
        {
            "duration (s)": round(duration, 1),
            "processed (instances received)": received["instances"],
            "dropped (published - processed)": stats["frames published"] - received["instances"],
            "dropped by the node (diagnostics)": diagnostics.get("dropped frames (total)", "n/a"),
            "inference errors (diagnostics)": diagnostics.get("inference errors (total)", "n/a"),
            "label images / debug images / marker arrays / diagnostics received": (
                f"{received['label_image']} / {received['debug_image']} / {received['markers']} / {received['diagnostics']}"
            ),
            "stopped by SIGTERM": stop.is_set(),
            "rss first / last (MiB)": f"{samples[0][1]:.1f} / {samples[-1][1]:.1f}" if samples else "n/a",
            # The curve's shape tells a plateau (allocator settling) from a steady growth.
            "rss at tenths of the run (processed: MiB)": ", ".join(
                f"{frame}: {rss:.1f}" for frame, rss in samples[:: max(1, len(samples) // 10)]
            ),
            "rss slope after warm-up (MiB per 1,000 processed frames)": round(rss_slope_per_1000(samples, args.warmup), 3),
            "rss bound (MiB per 1,000 processed frames)": args.rss_bound,
            "node exit code": exit_code,
            "node log": str(log_path),
        }
    )
    return stats, samples


def write_json(path: Path, args, stats: dict, samples: list[tuple[int, float]], failures: list[str]) -> None:
    record = {
        "benchmark": "soak",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "versions": {
            "python": platform.python_version(),
            "ros_distro": os.environ.get("ROS_DISTRO", ""),
            "rclpy": importlib.metadata.version("ros-rclpy"),
            "torch": importlib.metadata.version("torch"),
            "transformers": importlib.metadata.version("transformers"),
        },
        "arguments": {key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()},
        "summary": stats,
        "rss_samples": samples,
        "failures": failures,
    }
    path.write_text(json.dumps(record, indent=1, default=str))


def verdict(stats: dict) -> list[str]:
    """What failed (empty: the soak passed)."""
    failures = []
    if stats["crashed"]:
        failures.append("the node crashed")
    if stats["node exit code"] != 0:
        failures.append(f"the node exited with code {stats['node exit code']} on SIGINT")
    if stats["calls answered"] != stats["calls made"]:
        failures.append(f"{stats['calls made'] - stats['calls answered']} service call(s) unanswered")
    if stats["calls refused"]:
        failures.append(f"{stats['calls refused']} valid prompt change(s) refused")
    if stats["processed (instances received)"] == 0:
        failures.append("no frame was processed")
    if stats["rss slope after warm-up (MiB per 1,000 processed frames)"] > stats["rss bound (MiB per 1,000 processed frames)"]:
        failures.append("RSS grew faster than the bound")
    return failures


def main(argv=None) -> int:
    args = parse_args(argv)
    stats, samples = run(args)
    for key, value in stats.items():
        print(f"{key}: {value}")
    failures = verdict(stats)
    if args.json:
        write_json(args.json, args, stats, samples, failures)
    print(f"result: {'FAIL: ' + '; '.join(failures) if failures else 'PASS'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
