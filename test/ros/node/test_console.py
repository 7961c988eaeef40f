"""`sam3ctl console` in a real browser (Debian's chromium, driven by Playwright) against real nodes.

Each test starts its own node (node_launcher) and its own console process (`sam3ctl console
--port 0`), and saves a screenshot of each page under its tmp_path. The page's state is read
from its DOM (what the operator sees); what the node did is read from the node (GetPrompts,
~/instances, the visual objects that ~/remove_object lists).
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import TimeoutError as PageTimeout
from playwright.sync_api import sync_playwright
from sam3_ros.srv import RemoveObject

from sam3_ros.cli.console.frames import stamp_text
from sam3_ros.engine.model_loading import TRAINED_TINY_MODEL_NAME
from sam3_ros.node.node_process import executable_path
from sam3_ros.outputs.mask_encoding import decode_mask
from sam3_ros.synthetic import generate_sequence
from sam3_ros.synthetic.splits import TEST_SEEDS

CHROMIUM = Path("/usr/bin/chromium")
# As the machines' notes say: no GPU, no sandbox as root, and none of Chromium's own network traffic.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CONSOLE_START_TIMEOUT_S = 30.0
PAGE_TIMEOUT_MS = 20_000
SHOWN_TIMEOUT_MS = 3_000  # for one frame to reach the page once the console subscribed to its camera
FIRST_FRAME_TIMEOUT_S = 30.0
VIEWPORT = {"width": 1280, "height": 720}
SYNTHETIC_SEED = TEST_SEEDS[0]
CLICK_SCENE_FRAMES = 10  # its shape moves out of the frame later


# -- the browser and the console ----------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    assert CHROMIUM.is_file(), f"{CHROMIUM} is missing: bash scripts/install_browser.sh installs Debian's chromium"
    with sync_playwright() as playwright:
        # Playwright gives every launch a fresh, empty profile (--user-data-dir) of its own.
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


class Console:
    """A `sam3ctl console` process; `url` is the address it printed."""

    def __init__(self, log_path: Path, *arguments: str):
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - lives as long as the process
        command = [str(executable_path("sam3ctl")), "console", "--port", "0", *arguments]
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + CONSOLE_START_TIMEOUT_S
        while not (found := re.search(r"http://\S+", self.log())):
            if self.process.poll() is not None:
                pytest.fail(f"the console exited with {self.process.returncode}: {self.log()}")
            if time.monotonic() > deadline:
                self.process.kill()
                pytest.fail(f"the console printed no URL within {CONSOLE_START_TIMEOUT_S:g} s: {self.log()}")
            time.sleep(0.05)
        self.url = found.group(0)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """Ctrl-C: the console must end at once, cleanly, and must not have logged a traceback."""
        assert self.process.poll() is None, f"the console died: {self.log()}"
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(timeout=15)
        self._log.close()
        assert code == 0, f"the console exited with {code} on Ctrl-C: {self.log()}"
        assert "Traceback" not in self.log(), self.log()


@pytest.fixture
def start_console(tmp_path):
    consoles = []

    def start(*arguments: str) -> Console:
        consoles.append(Console(tmp_path / f"console_{len(consoles)}.log", *arguments))
        return consoles[-1]

    yield start
    for console in consoles:
        console.stop()


@pytest.fixture
def open_page(browser, tmp_path):
    """A page in a browser context of its own (its own cookies: another browser); screenshots at the end."""
    contexts = []

    def open_(url: str):
        context = browser.new_context(viewport=VIEWPORT)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(PAGE_TIMEOUT_MS)
        page.goto(url)
        return page

    yield open_
    for index, context in enumerate(contexts):
        for page in context.pages:
            page.screenshot(path=str(tmp_path / f"console_{index}.png"))
        context.close()


# -- what a page shows ----------------------------------------------------------------------------


def frame_selector(camera: str = "") -> str:
    return f'figure.camera[data-camera="{camera}"] img.frame'


def shows_stamp(page, stamp: str, camera: str = "", timeout_ms: int = PAGE_TIMEOUT_MS) -> bool:
    """Whether the page's view of `camera` shows the frame stamped `stamp` within the time."""
    try:
        page.wait_for_function(
            "([selector, stamp]) => document.querySelector(selector)?.dataset.stamp === stamp",
            arg=[frame_selector(camera), stamp],
            timeout=timeout_ms,
        )
        return True
    except PageTimeout:
        return False


def feed_until_shown(pages, process, frames, camera: str = "") -> str:
    """Feed frames (process(frame) -> its image message) until every page shows the latest; its stamp.

    The console subscribes to a camera's overlay once a browser asks for it, so the first frames
    may be drawn before the node knows of the console.
    """
    for page in pages:
        page.wait_for_selector(frame_selector(camera), state="attached")
    deadline = time.monotonic() + FIRST_FRAME_TIMEOUT_S
    for rgb in frames:
        stamp = stamp_text(process(rgb).header.stamp)
        if all(shows_stamp(page, stamp, camera, SHOWN_TIMEOUT_MS) for page in pages):
            return stamp
        assert time.monotonic() < deadline, f"no page showed a frame of camera '{camera}' within {FIRST_FRAME_TIMEOUT_S:g} s"
    pytest.fail(f"the pages did not show any of {len(frames)} frames of camera '{camera}'")


def answer(page, action) -> tuple[bool, str]:
    """Do `action()` on the page and wait for the message line's answer: (ok, its text)."""
    page.evaluate("document.getElementById('message').textContent = ''")
    action()
    page.wait_for_function("document.getElementById('message').textContent !== ''")
    line = page.locator("#message")
    return line.get_attribute("class") == "ok", line.text_content()


def image_point_on_page(page, x: int, y: int, camera: str = "") -> tuple[float, float]:
    """Where on the page the centre of pixel (x, y) of the image the node processed is, in the view of `camera`."""
    frame = page.locator(frame_selector(camera))
    box = frame.bounding_box()
    width, height = (int(frame.get_attribute(f"data-{size}")) for size in ("width", "height"))
    return box["x"] + (x + 0.5) * box["width"] / width, box["y"] + (y + 0.5) * box["height"] / height


def click_holding(page, key: str, point: tuple[float, float]) -> None:
    page.keyboard.down(key)
    page.mouse.click(*point)
    page.keyboard.up(key)


def drag(page, start: tuple[float, float], end: tuple[float, float]) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=5)
    page.mouse.up()


def prompt_texts(client) -> list[str]:
    return [p.text for p in client.get_prompts()]


def visual_objects(client):
    """The node's visual objects (track id, label, camera), as ~/remove_object lists them."""
    response = client.call(RemoveObject, f"{client.NODE_NAME}/remove_object", RemoveObject.Request(track_id=0))
    return response.visual_objects


# -- the tests ------------------------------------------------------------------------------------


def test_two_browsers_see_live_frames_add_and_remove_a_prompt_and_see_a_refusal(node_launcher, start_console, open_page, footage):
    _, client = node_launcher.start({})
    console = start_console()
    first, second = open_page(console.url), open_page(console.url)

    feed_until_shown([first, second], lambda rgb: client.process(rgb)[0], footage)
    before = first.locator(frame_selector()).get_attribute("src")
    feed_until_shown([first, second], lambda rgb: client.process(rgb)[0], footage[-5:])
    assert first.locator(frame_selector()).get_attribute("src") != before, "the frame did not change"
    # Each frame is encoded once, however many browsers show it (the page's state tells).
    (camera,) = first.evaluate("fetch('/api/state').then((r) => r.json()).then((s) => s.cameras)")
    assert 1 <= camera["frames_encoded"] <= camera["frames_received"], camera

    first.fill("#prompt-text", "red cup")
    ok, text = answer(first, lambda: first.press("#prompt-text", "Enter"))
    assert ok and "red cup" in prompt_texts(client), text
    row = second.locator("#prompts tr.prompt", has_text="red cup")
    ok, text = answer(second, row.locator("button.remove-prompt").click)
    assert ok, text
    second.locator("#prompts tr.prompt", has_text="red cup").wait_for(state="detached")
    assert "red cup" not in prompt_texts(client) and "person" in prompt_texts(client)

    # A concept instance cannot be removed on its own: the page says why, in the node's words.
    latest, _ = client.process(footage[0])
    concept_row = first.locator("#instances tbody tr").first
    track_id = concept_row.get_attribute("data-id")
    concept_row.click()
    ok, text = answer(first, first.locator("#remove-object").click)
    assert not ok and text.startswith("refused: "), text
    assert f"track {track_id} is an instance of prompt" in text and "remove the prompt, or refine the object instead" in text
    # A request the console cannot make sense of is answered with why; the console goes on.
    bad = first.evaluate(
        "fetch('/api/objects/track', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: '{\"points\": [[1]]}'})"
        ".then(async (r) => [r.status, (await r.json()).message])"
    )
    assert bad == [400, "a point is 2 numbers (pixels), not [1]"]
    assert shows_stamp(second, stamp_text(latest.header.stamp)), "the second browser stopped following"


def test_a_click_tracks_the_object_at_that_pixel_which_can_be_refined_and_removed(node_launcher, start_console, open_page):
    # One shape: tiny-synthetic's tracker (docs/training.md, stage 2) follows a click on the shape of
    # a one-shape scene; among several it often takes another (checked on the engine, 2026-12-03).
    images, annotations = zip(*generate_sequence(SYNTHETIC_SEED, num_frames=CLICK_SCENE_FRAMES, max_objects=1, max_distractors=0))
    _, client = node_launcher.start({"model": TRAINED_TINY_MODEL_NAME})
    console = start_console()
    page = open_page(console.url)
    fed = []

    def process(index):
        fed.append(index)
        return client.process(np.ascontiguousarray(images[index]))[0]

    feed_until_shown([page], process, range(CLICK_SCENE_FRAMES - 1))
    index = fed[-1]
    (shape,) = annotations[index].objects
    rows, cols = np.nonzero(shape.mask)
    middle = np.argmin((rows - rows.mean()) ** 2 + (cols - cols.mean()) ** 2)
    x, y = int(cols[middle]), int(rows[middle])
    ok, text = answer(page, lambda: page.mouse.click(*image_point_on_page(page, x, y)))
    assert ok and f"point {x}, {y})" in text, text
    track_id = int(re.search(r"track (\d+)", text).group(1))
    assert [o.track_id for o in visual_objects(client)] == [track_id], text

    _, result = client.process(np.ascontiguousarray(images[index + 1]))
    (instance,) = [i for i in result.instances if i.id == track_id]
    mask = decode_mask(instance.mask_rle, result.height, result.width)
    box = instance.box
    inside_box = box.x_offset <= x < box.x_offset + box.width and box.y_offset <= y < box.y_offset + box.height
    assert mask[y, x] or inside_box, f"the object clicked at ({x}, {y}) is at {box} on the next frame"

    # Select it with a ctrl-click, refine it with a box (a drag), remove it (Delete).
    page.locator(f'#instances tbody tr[data-id="{track_id}"]').wait_for()
    click_holding(page, "Control", image_point_on_page(page, x, y))
    page.wait_for_selector(f'#instances tbody tr.selected[data-id="{track_id}"]')
    right, bottom = box.x_offset + box.width - 1, box.y_offset + box.height - 1
    ok, text = answer(
        page, lambda: drag(page, image_point_on_page(page, box.x_offset, box.y_offset), image_point_on_page(page, right, bottom))
    )
    assert ok and f"track {track_id} " in text and f"box {box.x_offset}, {box.y_offset}, {box.width}×{box.height})" in text, text
    ok, text = answer(page, lambda: page.keyboard.press("Delete"))
    assert ok and visual_objects(client) == [], text


def test_a_camera_grid_that_survives_the_node_restarting(node_launcher, start_console, open_page, footage):
    cameras = {"cameras": ["front", "rear"]}
    node, client = node_launcher.start(cameras)
    console = start_console()
    page = open_page(console.url)
    for camera in cameras["cameras"]:
        feed_until_shown([page], lambda rgb, camera=camera: client.process_on(camera, rgb, f"{camera}_optical_frame")[0], footage, camera)

    ok, text = answer(page, lambda: page.mouse.click(*image_point_on_page(page, 80, 34, "rear")))
    assert ok and "on rear" in text, text
    assert [o.camera for o in visual_objects(client)] == ["rear"]

    restarted = node_launcher.launch(cameras)  # its imports overlap the old node's last moments
    node.kill()
    client = node_launcher.connect(restarted)
    for camera in cameras["cameras"]:
        feed_until_shown([page], lambda rgb, camera=camera: client.process_on(camera, rgb, f"{camera}_optical_frame")[0], footage, camera)
    page.wait_for_selector("#node-status.up")
    assert console.process.poll() is None


def test_on_another_interface_the_console_asks_for_its_token(start_console, open_page):
    console = start_console("--host", "0.0.0.0")
    token = re.search(r"\?token=(\S+)", console.url).group(1)
    port = re.search(r":(\d+)/", console.url).group(1)
    base = f"http://127.0.0.1:{port}/"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(base + "api/state", timeout=10)
    assert refused.value.code == 403 and "asks for its access token" in refused.value.read().decode()

    page = open_page(f"{base}?token={token}")
    assert page.url == base, "the token stays in the address bar"
    page.wait_for_function("document.getElementById('node-status').textContent.includes('not found')")
    assert page.evaluate("fetch('/api/state').then((r) => r.status)") == 200  # the cookie carries the token

    stranger = open_page(base)
    assert "asks for its access token" in stranger.content()
