"""The node's health from its counters: one status per report period, without ROS.

diagnostic_updater is the ROS convention but is not on PyPI; this module does its job for the
node (counters in, a level with a message and key/value pairs out) and is tested without a ROS
graph. The node publishes each report as diagnostic_msgs/DiagnosticArray on /diagnostics.

Every method takes the current time (`now`, monotonic seconds) instead of reading a clock, so a
test can drive it step by step. Thread-safe: the inference thread, the executor's callbacks and
the report timer all call it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from enum import IntEnum

# After this many inference failures in a row (no successful frame between them) the node is
# considered broken (ERROR), not just unlucky with a frame (WARN).
ERROR_STREAK = 3


class Level(IntEnum):
    """diagnostic_msgs/DiagnosticStatus levels."""

    OK = 0
    WARN = 1
    ERROR = 2


@dataclass(frozen=True)
class HealthReport:
    level: Level
    message: str
    values: tuple[tuple[str, str], ...]  # (key, value), in a fixed order (docs/behaviour.md "Diagnostics")
    # With named cameras (parameter `cameras`): each camera's own report, by name; none for the
    # one unnamed camera, whose figures are the node's.
    cameras: tuple[tuple[str, HealthReport], ...] = ()


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds:.2f}" if seconds > 0 else "n/a"


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


class HealthMonitor:
    def __init__(self, now: float):
        self.stall_timeout_s = float("inf")  # set by `configured`; a stall is only checked while active
        self._lock = threading.Lock()
        self._state = "unconfigured"
        self._configure_error = ""
        self._model = self._device = self._dtype = self._mask_kernels = "n/a"
        self._use_depth = False
        # Since the last report: the window the rates and latencies are about.
        self._window_start = now
        self._window = _Window()
        # Since start-up.
        self._dropped_total = 0
        self._rejected_total = 0
        self._errors_total = 0
        self._out_of_memory_total = 0
        self._caps_lowered = ""  # "total/per prompt" once out-of-memory frames lowered the object caps
        self._error_streak = 0
        self._last_error = ""
        self._last_rejection = ""
        self._last_image: float | None = None
        self._last_synchronised: float | None = None
        self._cameras: dict[str, _Camera] = {"": _Camera()}
        self._active_since = now
        self._instances = 0
        self._positioned = 0

    # -- lifecycle ---------------------------------------------------------------------------------

    def configured(
        self,
        model: str,
        device: str,
        dtype: str,
        use_depth: bool,
        stall_timeout_s: float,
        mask_kernels: str = "n/a",
        cameras: tuple[str, ...] = ("",),
    ) -> None:
        """`cameras`: the names of the `cameras` parameter, or the one unnamed camera ("")."""
        if stall_timeout_s <= 0:
            raise ValueError(f"stall_timeout must be positive, got {stall_timeout_s}")
        with self._lock:
            self._state, self._configure_error = "inactive", ""
            self._model, self._device, self._dtype, self._use_depth = model, device, dtype, use_depth
            self._mask_kernels = mask_kernels
            self.stall_timeout_s = stall_timeout_s
            self._cameras = {name: _Camera() for name in cameras}

    def configure_failed(self, reason: str) -> None:
        with self._lock:
            self._state, self._configure_error = "unconfigured", reason

    def activated(self, now: float) -> None:
        """The stall clock starts now: a camera gets stall_timeout to deliver its first image."""
        with self._lock:
            self._state, self._active_since = "active", now
            self._error_streak = 0

    def deactivated(self) -> None:
        with self._lock:
            self._state = "inactive"

    def cleaned_up(self) -> None:
        with self._lock:
            self._state = "unconfigured"
            self._device = self._dtype = self._mask_kernels = "n/a"

    # -- frames ------------------------------------------------------------------------------------

    def image_received(self, now: float, camera: str = "") -> None:
        with self._lock:
            self._window.received += 1
            self._last_image = now
            own = self._cameras[camera]
            own.window.received += 1
            own.last_image = now

    def inputs_synchronised(self, now: float) -> None:
        """A colour image found its depth image and camera_info (use_depth only)."""
        with self._lock:
            self._window.synchronised += 1
            self._last_synchronised = now

    def frame_dropped(self, camera: str = "") -> None:
        with self._lock:
            self._window.dropped += 1
            self._dropped_total += 1
            self._cameras[camera].window.dropped += 1

    def image_rejected(self, reason: str) -> None:
        with self._lock:
            self._window.rejected += 1
            self._rejected_total += 1
            self._last_rejection = reason

    def frame_processed(self, latency_s: float, instances: int, positioned: int, camera: str = "") -> None:
        with self._lock:
            self._window.processed += 1
            self._window.latencies.append(latency_s)
            self._error_streak = 0
            self._instances, self._positioned = instances, positioned
            own = self._cameras[camera]
            own.window.processed += 1
            own.window.latencies.append(latency_s)
            own.instances = instances

    def inference_failed(self, error: str) -> None:
        with self._lock:
            self._window.errors += 1
            self._errors_total += 1
            self._error_streak += 1
            self._last_error = error

    def out_of_memory(self, error: str) -> None:
        """An inference failure that ran out of memory (also counted as an inference failure)."""
        self.inference_failed(error)
        with self._lock:
            self._out_of_memory_total += 1

    def object_caps_lowered(self, total: int, per_prompt: int) -> None:
        with self._lock:
            self._caps_lowered = f"{total}/{per_prompt}"

    # -- the report --------------------------------------------------------------------------------

    def report(self, now: float, active_prompts: int, device_memory: str) -> HealthReport:
        """The status of the window since the previous report; starts a new window."""
        with self._lock:
            window, seconds = self._window, now - self._window_start
            self._window, self._window_start = _Window(), now
            problems = self._problems(now, window)
            level = max((level for level, _ in problems), default=Level.OK)
            message = "; ".join(text for _, text in problems) or self._state
            latencies = window.latencies
            since_image = None if self._last_image is None else now - self._last_image
            values = [
                ("lifecycle state", self._state),
                ("model", self._model),
                ("device", self._device),
                ("dtype", self._dtype),
                ("mask NMS and hole filling", self._mask_kernels),
                ("input rate (Hz)", _rate(window.received, seconds)),
                ("processed rate (Hz)", _rate(window.processed, seconds)),
                ("dropped frames", str(window.dropped)),
                ("dropped frames (total)", str(self._dropped_total)),
                ("rejected images (total)", str(self._rejected_total)),
                ("latency mean (s)", _seconds(sum(latencies) / len(latencies) if latencies else None)),
                ("latency max (s)", _seconds(max(latencies) if latencies else None)),
                ("seconds since last image", _seconds(since_image)),
                ("active prompts", str(active_prompts)),
                ("instances", str(self._instances)),
                ("inference errors (total)", str(self._errors_total)),
                ("out-of-memory frames (total)", str(self._out_of_memory_total)),
                ("object caps lowered to (total/per prompt)", self._caps_lowered or "no"),
                ("device memory in use (MiB)", device_memory),
            ]
            if self._use_depth:
                values += [
                    ("synchronised depth rate (Hz)", _rate(window.synchronised, seconds)),
                    ("instances with 3D position", str(self._positioned)),
                ]
            # Every camera's window closes here, the unnamed one's too (its figures are the node's).
            reports = {name: self._camera_report(now, seconds, name) for name in self._cameras}
            return HealthReport(level, message, tuple(values), tuple((name, report) for name, report in reports.items() if name))

    def _camera_report(self, now: float, seconds: float, name: str) -> HealthReport:
        """One named camera's figures over the window that `report` closes; starts its next window."""
        own = self._cameras[name]
        window, own.window = own.window, _Window()
        latencies = window.latencies
        stalled = self._camera_stall(now, name) if self._state == "active" else None
        values = (
            ("input rate (Hz)", _rate(window.received, seconds)),
            ("processed rate (Hz)", _rate(window.processed, seconds)),
            ("dropped frames", str(window.dropped)),
            ("latency mean (s)", _seconds(sum(latencies) / len(latencies) if latencies else None)),
            ("latency max (s)", _seconds(max(latencies) if latencies else None)),
            ("seconds since last image", _seconds(None if own.last_image is None else now - own.last_image)),
            ("instances", str(own.instances)),
        )
        return HealthReport(Level.WARN if stalled else Level.OK, stalled or self._state, values)

    def _camera_stall(self, now: float, name: str) -> str | None:
        stalled = self._stalled_for(now, self._cameras[name].last_image)
        if stalled is None:
            return None
        camera = f"camera '{name}'" if name else "camera"
        return f"{camera} stalled: no image for {stalled:.1f} s (stall_timeout {self.stall_timeout_s:g} s)"

    def _problems(self, now: float, window: _Window) -> list[tuple[Level, str]]:
        if self._state == "unconfigured":
            return [(Level.ERROR, f"configure failed: {self._configure_error}")] if self._configure_error else []
        if self._state != "active":
            return []
        problems = []
        if self._error_streak >= ERROR_STREAK:
            problems.append((Level.ERROR, f"inference failed on {self._error_streak} frames in a row: {self._last_error}"))
        elif window.errors:
            problems.append((Level.WARN, f"inference failed on {window.errors} frame(s): {self._last_error}"))
        if self._caps_lowered:
            problems.append((Level.WARN, f"object caps lowered to {self._caps_lowered} (total/per prompt) after out-of-memory frames"))
        stalls = [stall for stall in (self._camera_stall(now, name) for name in self._cameras) if stall]
        problems += [(Level.WARN, stall) for stall in stalls]
        if not stalls and self._use_depth:
            unmatched = self._stalled_for(now, self._last_synchronised)
            if unmatched is not None:
                problems.append(
                    (Level.WARN, f"no depth image and camera_info matched a colour image for {unmatched:.1f} s "
                     "(check depth/image, depth/camera_info and depth_sync_slop)")
                )  # fmt: skip
        if window.rejected and not window.processed:
            problems.append((Level.WARN, f"every image was rejected: {self._last_rejection}"))
        return problems

    def _stalled_for(self, now: float, last: float | None) -> float | None:
        """Seconds without the event while active, if that is stall_timeout or more."""
        since = now - max(self._active_since, last if last is not None else self._active_since)
        return since if since >= self.stall_timeout_s else None


@dataclass
class _Window:
    received: int = 0
    synchronised: int = 0
    processed: int = 0
    dropped: int = 0
    rejected: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)  # image stamp -> publish, seconds


@dataclass
class _Camera:
    """One camera's counters: its window since the last report, its last image, its last frame's instances."""

    window: _Window = field(default_factory=_Window)
    last_image: float | None = None
    instances: int = 0


def device_memory_mib(device) -> str:
    """Memory the torch caching allocator holds on a CUDA device, or 'n/a' elsewhere."""
    import torch  # noqa: PLC0415 - only the node needs torch here; the rest of the module is plain Python

    if device is None or torch.device(device).type != "cuda":
        return "n/a"
    return f"{torch.cuda.memory_allocated(device) / 2**20:.1f}"
