"""One recording as one Ray task: the single-recording tool's run, reporting progress to the driver.

The task runs `cli.annotate`, exactly what `sam3-ros-annotate --resume` runs, so a recording's
outputs, checkpoints and resume are the single tool's. Ray runs a task in its worker's main
thread, where the run's Ctrl-C handling applies: the driver's `ray.cancel` (not forced) raises
SIGINT's handler there, and the task finishes its frame, checkpoints and returns "stopped".
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import ray
from tqdm import tqdm

from sam3_ros.annotate.cli import ANNOTATING, REFUSALS, RunError, Stopped, annotate

REPORT_INTERVAL_S = 0.2


@dataclass(frozen=True)
class TaskProgress:
    initial: int  # frames the latest attempt found checkpointed
    processed: int  # frames the latest attempt has annotated
    processed_all: int  # frames all attempts of this run have annotated (a retry redoes some)
    attempts: int  # tasks started for the recording: above 1 = a worker died and Ray retried


class ProgressBoard:
    """A Ray actor: what each recording's task attempts have done, as they report it; the driver reads it.

    Reports may arrive out of order (a retried task's first report can overtake its predecessor's
    last), so each attempt is keyed by its start time and keeps its highest count.
    """

    def __init__(self):
        self._attempts: dict[str, dict[int, tuple[int, int]]] = {}  # key -> {start ns: (initial, processed)}

    def report(self, key: str, attempt: int, initial: int, processed: int) -> None:
        attempts = self._attempts.setdefault(key, {})
        if attempt not in attempts or processed >= attempts[attempt][1]:
            attempts[attempt] = (initial, processed)

    def read(self) -> dict[str, TaskProgress]:
        progress = {}
        for key, attempts in self._attempts.items():
            initial, processed = attempts[max(attempts)]
            progress[key] = TaskProgress(initial, processed, sum(done for _, done in attempts.values()), len(attempts))
        return progress


class _BoardBar:
    """The annotating phase's progress bar of a task: reports to the board a few times a second."""

    def __init__(self, board, key: str, attempt: int, initial: int):
        self._board, self._key, self._attempt, self._initial = board, key, attempt, initial
        self._processed = 0
        self._reported_at = 0.0

    def __enter__(self):
        self._report()
        return self

    def update(self) -> None:
        self._processed += 1
        if time.monotonic() - self._reported_at >= REPORT_INTERVAL_S:
            self._report()

    def __exit__(self, *exc) -> None:
        # Waited for: the driver reads the board when the task's result arrives, and an actor call
        # still in flight then would leave the bar short of the frames this attempt did.
        ray.get(self._report())

    def _report(self) -> ray.ObjectRef:
        self._reported_at = time.monotonic()
        return self._board.report.remote(self._key, self._attempt, self._initial, self._processed)


def annotate_recording(args: argparse.Namespace, board) -> dict:
    """The task: annotate args.input into args.output, resuming its checkpoint if it has one.

    Returns {"status": "done", "frames", "tracks", "resumed_at"}, {"status": "failed", "reason"}
    for input the single tool refuses, or {"status": "stopped", "frames"} after a stop request.
    Anything else (a bug, the GPU out of memory) is raised and reaches the driver as RayTaskError.
    """
    key, attempt = str(args.input), time.time_ns()
    # Counts the attempt before the model loads, and waits for it: a call still queued in this worker
    # (the board actor not yet up on a loaded machine) dies with it if the worker is killed, and the
    # run would then report one attempt fewer than Ray made.
    ray.get(board.report.remote(key, attempt, 0, 0))

    def bar(desc: str, total: int | None, initial: int = 0):
        return _BoardBar(board, key, attempt, initial) if desc == ANNOTATING else tqdm(total=total, disable=True)

    try:
        summary = annotate(argparse.Namespace(**{**vars(args), "resume": True}), bar)
    except (*REFUSALS, RunError) as error:
        return {"status": "failed", "reason": str(error)}
    except Stopped as stopped:
        return {"status": "stopped", "frames": stopped.frames_done}
    return {"status": "done", "frames": summary["frames"], "tracks": summary["tracks"], "resumed_at": summary["resumed_at"]}
