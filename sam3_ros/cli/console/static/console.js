// The sam3 operator console: a live view per camera (the node's overlay image), prompts,
// instances, and clicks turned into the node's TrackObject / RefineObject / RemoveObject.
// No build step and nothing from the network: this file, console.css and index.html are all.
"use strict";

const STATE_PERIOD_MS = 500; // the next state request, after the last one's answer
const RETRY_MS = 1000; // after a failed request (the console restarting, the network)
const DRAG_PX = 4; // a press that moves less than this is a click, not a box

const views = new Map(); // camera name -> CameraView
let snapshot = null; // the newest /api/state
let selected = null; // {camera, id} of the selected instance

const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function cameraLabel(name) {
  return name === "" ? "camera" : name;
}

function showMessage(text, ok) {
  const message = $("message");
  message.textContent = text;
  message.className = ok ? "ok" : "refused";
}

// POST a JSON request to the console; show the node's answer (or why there was none).
async function post(path, body) {
  let response;
  try {
    response = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  } catch (error) {
    showMessage(`the console did not answer: ${error}`, false);
    return null;
  }
  let answer;
  try {
    answer = await response.json();
  } catch {
    showMessage(`${response.status}: ${await response.text()}`, false);
    return null;
  }
  const prefix = { 409: "refused: ", 400: "bad request: ", 503: "not reached: " }[response.status] || "";
  showMessage(prefix + (answer.message || (answer.ok ? "done" : "failed")), answer.ok);
  return answer;
}

// -- one camera ------------------------------------------------------------------------------------

class CameraView {
  constructor(name) {
    this.name = name;
    this.stamp = "";
    this.sourceWidth = 0;
    this.sourceHeight = 0;
    this.closed = false;
    this.figure = document.createElement("figure");
    this.figure.className = "camera";
    this.figure.dataset.camera = name;
    this.figure.innerHTML = '<figcaption><span class="name"></span><span class="stamp"></span></figcaption><div class="view"><img class="frame" alt=""><div class="outline" hidden></div><div class="rubber-band" hidden></div></div>';
    this.figure.querySelector(".name").textContent = cameraLabel(name);
    this.view = this.figure.querySelector(".view");
    this.img = this.figure.querySelector("img");
    this.img.alt = `the node's overlay of ${cameraLabel(name)}`;
    this.outline = this.figure.querySelector(".outline");
    this.band = this.figure.querySelector(".rubber-band");
    this.view.addEventListener("mousedown", (event) => this.press(event));
    $("cameras").appendChild(this.figure);
    this.frames();
  }

  close() {
    this.closed = true;
    this.figure.remove();
  }

  // The next frame is asked for only once this one is shown: one frame on its way at most.
  async frames() {
    while (!this.closed) {
      let response;
      try {
        const query = new URLSearchParams({ camera: this.name, after: this.stamp });
        response = await fetch(`/api/frame?${query}`, { cache: "no-store" });
      } catch {
        await sleep(RETRY_MS);
        continue;
      }
      if (response.status === 204) continue; // nothing new within the server's wait: ask again
      if (!response.ok) {
        await sleep(RETRY_MS);
        continue;
      }
      const url = URL.createObjectURL(await response.blob());
      const shown = new Promise((resolve) => {
        this.img.onload = this.img.onerror = resolve;
      });
      const previous = this.img.src;
      this.img.src = url;
      await shown;
      if (previous) URL.revokeObjectURL(previous);
      this.stamp = response.headers.get("X-Stamp");
      this.sourceWidth = Number(response.headers.get("X-Source-Width"));
      this.sourceHeight = Number(response.headers.get("X-Source-Height"));
      Object.assign(this.img.dataset, { stamp: this.stamp, width: this.sourceWidth, height: this.sourceHeight });
      this.figure.querySelector(".stamp").textContent = `${this.sourceWidth}×${this.sourceHeight} · ${this.stamp}`;
      this.drawOutline();
    }
  }

  // A mouse position as a pixel of the image the node processed (column x, row y).
  pixel(event) {
    const rect = this.img.getBoundingClientRect();
    const clamp = (value, size) => Math.min(Math.max(value, 0), size - 1);
    return {
      x: clamp(Math.floor(((event.clientX - rect.left) * this.sourceWidth) / rect.width), this.sourceWidth),
      y: clamp(Math.floor(((event.clientY - rect.top) * this.sourceHeight) / rect.height), this.sourceHeight),
      screenX: event.clientX,
      screenY: event.clientY,
    };
  }

  // Percentages of the view for a box in source pixels.
  place(element, [x, y, width, height]) {
    element.style.left = `${(100 * x) / this.sourceWidth}%`;
    element.style.top = `${(100 * y) / this.sourceHeight}%`;
    element.style.width = `${(100 * width) / this.sourceWidth}%`;
    element.style.height = `${(100 * height) / this.sourceHeight}%`;
  }

  drawOutline() {
    const instance = selected && selected.camera === this.name ? findInstance(selected) : null;
    this.outline.hidden = !instance || !this.sourceWidth;
    if (!this.outline.hidden) this.place(this.outline, instance.box);
  }

  press(event) {
    if (event.button !== 0 || !this.sourceWidth) return;
    event.preventDefault();
    const start = this.pixel(event);
    const box = (end) => [Math.min(start.x, end.x), Math.min(start.y, end.y), Math.abs(end.x - start.x) + 1, Math.abs(end.y - start.y) + 1];
    const dragged = (end) => Math.hypot(end.screenX - start.screenX, end.screenY - start.screenY) >= DRAG_PX;
    const move = (moveEvent) => {
      const end = this.pixel(moveEvent);
      this.band.hidden = !dragged(end);
      if (!this.band.hidden) this.place(this.band, box(end));
    };
    const release = (upEvent) => {
      window.removeEventListener("mousemove", move);
      window.removeEventListener("mouseup", release);
      this.band.hidden = true;
      const end = this.pixel(upEvent);
      if (dragged(end)) this.prompt({ box: box(end) });
      else if (event.ctrlKey || event.metaKey) selectAt(this.name, start);
      else this.prompt(event.shiftKey ? { negative_points: [[start.x, start.y]] } : { points: [[start.x, start.y]] });
    };
    window.addEventListener("mousemove", move);
    window.addEventListener("mouseup", release);
  }

  // Clicks and boxes go to the selected instance of this camera (refine), or start a new object.
  async prompt(where) {
    const target = selected && selected.camera === this.name ? selected : null;
    const answer = target
      ? await post("/api/objects/refine", { track_id: target.id, ...where })
      : await post("/api/objects/track", { camera: this.name, ...where });
    if (answer && answer.ok) {
      const track = target ? target.id : answer.track_id;
      showMessage(`${answer.message} (track ${track} on ${cameraLabel(this.name)}, ${described(where)})`, true);
    }
  }
}

// What a click or a box was, in the pixels sent to the node.
function described({ points, negative_points, box }) {
  if (box) return `box ${box[0]}, ${box[1]}, ${box[2]}×${box[3]}`;
  if (points) return `point ${points[0][0]}, ${points[0][1]}`;
  return `negative point ${negative_points[0][0]}, ${negative_points[0][1]}`;
}

// -- instances and selection -----------------------------------------------------------------------

function cameraInstances(name) {
  const camera = snapshot && snapshot.cameras.find((c) => c.name === name);
  return (camera && camera.instances && camera.instances.instances) || [];
}

function findInstance({ camera, id }) {
  return cameraInstances(camera).find((instance) => instance.id === id) || null;
}

function select(choice) {
  selected = choice;
  render();
}

// The smallest instance whose box holds the pixel.
function selectAt(camera, { x, y }) {
  const holding = cameraInstances(camera).filter(({ box: [bx, by, bw, bh] }) => x >= bx && x < bx + bw && y >= by && y < by + bh);
  holding.sort((a, b) => a.box[2] * a.box[3] - b.box[2] * b.box[3]);
  if (holding.length) select({ camera, id: holding[0].id });
  else showMessage(`no instance at ${x}, ${y}`, false);
}

async function removeSelected() {
  if (!selected) return;
  const answer = await post("/api/objects/remove", { track_id: selected.id });
  if (answer && answer.ok) select(null);
}

// -- rendering the state ---------------------------------------------------------------------------

function renderHeader() {
  const status = $("node-status");
  const diagnostics = snapshot.diagnostics;
  if (!snapshot.node_running) {
    status.textContent = `node ${snapshot.node} not found on ROS_DOMAIN_ID ${snapshot.ros_domain_id}: waiting for it`;
    status.className = "down";
  } else {
    status.textContent = `node ${snapshot.node}`;
    status.className = "up";
  }
  $("lifecycle").textContent = diagnostics ? diagnostics.lifecycle_state : "no diagnostics yet";
  const figures = diagnostics ? diagnostics.figures : {};
  const parts = [
    ["in", figures["input rate (Hz)"], "Hz"],
    ["processed", figures["processed rate (Hz)"], "Hz"],
    ["latency", figures["latency mean (s)"], "s"],
    ["dropped", figures["dropped frames"], ""],
  ].filter(([, value]) => value !== undefined);
  const line = $("diagnostics");
  line.textContent = parts.map(([name, value, unit]) => `${name} ${value}${value === "n/a" ? "" : unit ? " " + unit : ""}`).join("  ·  ");
  if (diagnostics && diagnostics.level !== "OK") {
    const warning = document.createElement("span");
    warning.className = diagnostics.level;
    warning.textContent = `  ${diagnostics.level}: ${diagnostics.message}`;
    line.appendChild(warning);
  }
}

function renderCameras() {
  const names = snapshot.cameras.map((camera) => camera.name);
  for (const [name, view] of views) {
    if (!names.includes(name)) {
      view.close();
      views.delete(name);
    }
  }
  for (const name of names) if (!views.has(name)) views.set(name, new CameraView(name));
  for (const view of views.values()) view.drawOutline();
  const none = $("no-cameras");
  none.hidden = names.length > 0;
  const state = snapshot.diagnostics ? snapshot.diagnostics.lifecycle_state : "not reporting";
  none.textContent = snapshot.node_running
    ? `${snapshot.node} publishes no instances: it is ${state} (sam3ctl lifecycle set configure, then activate)`
    : `waiting for ${snapshot.node}…`;
}

// Rows are kept and updated in place, not rebuilt: a click whose press and release straddle a
// refresh (twice a second) would otherwise land on a row that is gone.
function syncRows(body, items, keyOf, create, update) {
  const existing = new Map([...body.rows].map((row) => [row.dataset.key, row]));
  const rows = items.map((item) => {
    const key = keyOf(item);
    const row = existing.get(key) || create(item);
    row.dataset.key = key;
    update(row, item);
    return row;
  });
  if (rows.length !== body.rows.length || rows.some((row, index) => body.rows[index] !== row)) body.replaceChildren(...rows);
}

function setCells(row, texts) {
  texts.forEach((text, index) => {
    if (row.cells[index].textContent !== String(text)) row.cells[index].textContent = text;
  });
}

function renderPrompts() {
  const perCamera = snapshot.cameras.map((camera) => [camera.name, camera.instances ? camera.instances.prompts : []]);
  const figures = (prompt) =>
    perCamera
      .map(([name, statuses]) => {
        const status = statuses.find((s) => s.id === prompt.id);
        const value = status ? `${status.presence.toFixed(2)} · ${status.instances}` : "–";
        return perCamera.length > 1 ? `${cameraLabel(name)} ${value}` : value;
      })
      .join(", ");
  const create = (prompt) => {
    const row = document.createElement("tr");
    row.className = "prompt";
    row.dataset.id = prompt.id;
    for (let cell = 0; cell < 3; cell++) row.insertCell();
    const remove = document.createElement("button");
    remove.className = "remove-prompt";
    remove.textContent = "Remove";
    remove.title = `stop finding "${prompt.text}"`;
    remove.addEventListener("click", () => post("/api/prompts", { action: "remove", ids: [prompt.id] }));
    row.insertCell().appendChild(remove);
    return row;
  };
  const update = (row, prompt) => setCells(row, [prompt.id, prompt.text, figures(prompt)]);
  syncRows($("prompts").tBodies[0], snapshot.prompts || [], (prompt) => `${prompt.id}`, create, update);
}

function renderInstances() {
  const listed = snapshot.cameras.flatMap((camera) => cameraInstances(camera.name).map((instance) => ({ camera: camera.name, instance })));
  const create = ({ camera, instance }) => {
    const row = document.createElement("tr");
    Object.assign(row.dataset, { camera, id: instance.id });
    for (let cell = 0; cell < 4; cell++) row.insertCell();
    row.addEventListener("click", () => select({ camera, id: instance.id }));
    return row;
  };
  const update = (row, { camera, instance }) => {
    setCells(row, [cameraLabel(camera), instance.id, instance.concept, instance.score.toFixed(2)]);
    row.classList.toggle("selected", Boolean(selected && selected.camera === camera && selected.id === instance.id));
  };
  syncRows($("instances").tBodies[0], listed, ({ camera, instance }) => `${camera}/${instance.id}`, create, update);
  const instance = selected && findInstance(selected);
  $("selection").textContent = selected
    ? `Selected: #${selected.id} ${instance ? instance.concept : "(not in the newest frame)"} on ${cameraLabel(selected.camera)}: clicks and boxes there refine it.`
    : "Click on an object to track it; select an instance to refine it.";
  $("remove-object").disabled = $("deselect").disabled = !selected;
}

function render() {
  if (!snapshot) return;
  renderHeader();
  renderCameras();
  renderPrompts();
  renderInstances();
}

async function followState() {
  for (;;) {
    try {
      const response = await fetch("/api/state", { cache: "no-store" });
      if (!response.ok) throw new Error(`${response.status}: ${await response.text()}`);
      snapshot = await response.json();
      render();
      await sleep(STATE_PERIOD_MS);
    } catch (error) {
      $("node-status").textContent = `the console does not answer (${error.message}): retrying`;
      $("node-status").className = "down";
      await sleep(RETRY_MS);
    }
  }
}

// -- controls --------------------------------------------------------------------------------------

function promptText() {
  return $("prompt-text").value.trim();
}

$("prompt-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const answer = await post("/api/prompts", { action: "add", texts: [promptText()] });
  if (answer && answer.ok) $("prompt-text").value = "";
});
$("replace-prompts").addEventListener("click", async () => {
  const answer = await post("/api/prompts", { action: "replace", texts: promptText() ? [promptText()] : [] });
  if (answer && answer.ok) $("prompt-text").value = "";
});
$("remove-object").addEventListener("click", removeSelected);
$("deselect").addEventListener("click", () => select(null));
document.addEventListener("keydown", (event) => {
  if (event.target instanceof HTMLInputElement) return;
  if (event.key === "Escape") select(null);
  if (event.key === "Delete" || event.key === "Backspace") removeSelected();
});

followState();
