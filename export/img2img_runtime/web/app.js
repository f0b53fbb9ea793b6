// The img2img page: loads model.onnx and model.json (its img2img metadata, written by `img2img web`)
// and runs the model in the browser with onnxruntime-web (WebAssembly). Sketch models get a drawing
// pad translated as you draw; photo models a drop zone, a before/after slider and a download. Hint
// models (model.json's takes_hints) add a colour brush: its strokes, an RGBA image of the input's
// size, go with every run as the model's hint channels (processing.js hintPlanes).
import * as ort from "./ort/ort.wasm.min.mjs";
import { checkSelfEnsemble, fromRGBA, imageChannels, specFromConfig, toRGBA, translate } from "./processing.js";

const $ = (id) => document.getElementById(id);
const status = $("status");
const state = {
  session: null, spec: null, config: null, queue: Promise.resolve(), runs: 0, mode: null, tileLog: [], views: 1, photo: null,
  takesHints: false, hints: {}, // hints: the hint layers, {pad, photo}
  wanted: 0, drawn: 0, // results asked for (a change to the input, the hints or the views) and drawn
};
// true when every result asked for is on screen (no run waiting, running or being drawn)
state.idle = () => state.drawn === state.wanted;
function want() {
  return ++state.wanted;
}
function drawn(ticket) {
  state.drawn = Math.max(state.drawn, ticket);
}
window.img2img = state; // for tests and the curious: the spec, the config, how many runs finished

function setStatus(text, kind) {
  status.textContent = text;
  status.dataset.state = kind;
}

async function run(data, dims) {
  const input = new ort.Tensor("float32", data, dims);
  const results = await state.session.run({ [state.session.inputNames[0]]: input });
  const out = results[state.session.outputNames[0]];
  return { data: out.data, dims: out.dims };
}

// one translation at a time: onnxruntime sessions do not run concurrently
function enqueue(job) {
  const next = state.queue.then(job, job);
  state.queue = next.catch(() => {});
  return next;
}

function imageFromCanvas(canvas) {
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
  return fromRGBA(data, canvas.width, canvas.height, imageChannels(state.spec));
}

function drawImage(canvas, image) {
  canvas.width = image.width;
  canvas.height = image.height;
  canvas.getContext("2d").putImageData(new ImageData(toRGBA(image), image.width, image.height), 0, 0);
}

// strokes: a hint layer's strokes (or null), for hint models only
async function timedTranslate(image, what, strokes = null) {
  const started = performance.now();
  const views = state.views;
  const out = await translate(
    run,
    image,
    state.spec,
    (done, total) => {
      state.tileLog.push(`tile ${done} of ${total}`);
      setStatus(`${what}: tile ${done} of ${total}`, "running");
    },
    views,
    strokes,
  );
  const ms = performance.now() - started;
  state.runs += 1;
  state.lastMs = ms;
  const ensemble = views > 1 ? `, ${views} views` : "";
  const hinted = strokes ? ", colour hints" : "";
  setStatus(`${what}: ${ms.toFixed(0)} ms (${image.width} x ${image.height}${ensemble}${hinted})`, "done");
  document.body.dataset.runs = String(state.runs);
  return out;
}

// ------------------------------------------------------------------ colour hints
// A hint layer: the strokes of one input picture, an RGBA image of its size (alpha 255 where a hint
// is, 0 elsewhere: exactly what img2img_runtime reads as strokes), shown on a canvas over the picture.
class HintLayer {
  constructor(canvas) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.history = [];
    this.resize(1, 1);
  }

  resize(width, height) {
    this.canvas.width = this.width = width;
    this.canvas.height = this.height = height;
    this.image = this.ctx.createImageData(width, height);
    this.history = [];
    this.dirty = null;
  }

  // the strokes for translate(), or null when there is no hint
  strokes() {
    const { data } = this.image;
    for (let i = 3; i < data.length; i += 4)
      if (data[i]) return { width: this.width, height: this.height, data };
    return null;
  }

  save() {
    this.history.push(this.image.data.slice());
    const keep = Math.max(2, Math.min(30, Math.floor(2e8 / this.image.data.length))); // bounded memory on large photos
    while (this.history.length > keep) this.history.shift();
  }

  undo() {
    const previous = this.history.pop();
    if (!previous) return false;
    this.image.data.set(previous);
    this.ctx.putImageData(this.image, 0, 0);
    return true;
  }

  clear() {
    this.save();
    this.image.data.fill(0);
    this.ctx.putImageData(this.image, 0, 0);
  }

  // a disc of radius r (input pixels) centred on (x, y): the pixels whose centres it covers, at least
  // the pixel under (x, y); colour [r, g, b], or null to erase
  disc(x, y, r, colour) {
    const { width: w, height: h } = this;
    const data = this.image.data;
    const set = (px, py) => {
      const i = 4 * (py * w + px);
      if (colour) {
        data[i] = colour[0];
        data[i + 1] = colour[1];
        data[i + 2] = colour[2];
        data[i + 3] = 255;
      } else data[i] = data[i + 1] = data[i + 2] = data[i + 3] = 0;
    };
    const x0 = Math.max(0, Math.floor(x - r)), x1 = Math.min(w - 1, Math.floor(x + r));
    const y0 = Math.max(0, Math.floor(y - r)), y1 = Math.min(h - 1, Math.floor(y + r));
    for (let py = y0; py <= y1; py++)
      for (let px = x0; px <= x1; px++) if ((px + 0.5 - x) ** 2 + (py + 0.5 - y) ** 2 <= r * r) set(px, py);
    const cx = Math.min(w - 1, Math.max(0, Math.floor(x))), cy = Math.min(h - 1, Math.max(0, Math.floor(y)));
    set(cx, cy);
    const box = [Math.min(x0, cx), Math.min(y0, cy), Math.max(x1, cx), Math.max(y1, cy)];
    const d = this.dirty;
    this.dirty = d ? [Math.min(d[0], box[0]), Math.min(d[1], box[1]), Math.max(d[2], box[2]), Math.max(d[3], box[3])] : box;
  }

  // discs along the segment from a to b, close enough to make a solid line
  line(a, b, r, colour) {
    const n = Math.max(1, Math.ceil(Math.hypot(b[0] - a[0], b[1] - a[1]) / Math.max(r / 2, 0.5)));
    for (let i = 0; i <= n; i++) this.disc(a[0] + ((b[0] - a[0]) * i) / n, a[1] + ((b[1] - a[1]) * i) / n, r, colour);
    const d = this.dirty;
    if (d) this.ctx.putImageData(this.image, 0, 0, d[0], d[1], d[2] - d[0] + 1, d[3] - d[1] + 1);
    this.dirty = null;
  }
}

let erasingHints = false;

function hintColour() {
  if (erasingHints) return null;
  const hex = $("hint-color").value; // #rrggbb
  return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
}

// where a pointer event is on `element` (a canvas showing a picture of the layer's size), in the
// picture's pixels, and the brush's radius there (its size is in screen pixels)
function hintPoint(element, layer, event) {
  const box = element.getBoundingClientRect();
  const w = element.clientWidth || box.width, h = element.clientHeight || box.height;
  return [
    ((event.clientX - box.left - element.clientLeft) * layer.width) / w,
    ((event.clientY - box.top - element.clientTop) * layer.height) / h,
  ];
}

function hintRadius(element, layer) {
  const w = element.clientWidth || element.getBoundingClientRect().width;
  return Math.max(0.5, ((Number($("hint-size").value) / 2) * layer.width) / w);
}

// draw on `layer` with pointer events on `element` while active(); changed(delay): run the model again
function hintBrush(element, layer, active, changed) {
  let last = null;
  element.addEventListener("pointerdown", (event) => {
    if (!state.takesHints || !active()) return;
    event.preventDefault();
    element.setPointerCapture(event.pointerId);
    layer.save();
    last = hintPoint(element, layer, event);
    layer.line(last, last, hintRadius(element, layer), hintColour());
  });
  element.addEventListener("pointermove", (event) => {
    if (!last) return;
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
    for (const e of events.length ? events : [event]) {
      const next = hintPoint(element, layer, e);
      layer.line(last, next, hintRadius(element, layer), hintColour());
      last = next;
    }
    changed(400); // while drawing: a result when the hand pauses
  });
  const end = () => {
    if (!last) return;
    last = null;
    changed(150);
  };
  element.addEventListener("pointerup", end);
  element.addEventListener("pointercancel", end);
}

// the hint layer of what is on screen: the pad's in draw mode, the photo's in photo mode
function activeHints() {
  return state.mode === "draw" ? state.hints.pad : state.hints.photo;
}

function rerun(delay) {
  if (state.mode === "draw") scheduleTranslate(delay);
  else if (state.photo) schedulePhoto(delay);
}

$("hint-erase").addEventListener("click", () => {
  erasingHints = !erasingHints;
  $("hint-erase").classList.toggle("active", erasingHints);
  $("hint-erase").setAttribute("aria-pressed", String(erasingHints));
  if (state.mode === "draw") setTool("hint");
});
$("hint-color").addEventListener("input", () => {
  if (erasingHints) $("hint-erase").click(); // picking a colour paints again
  if (state.mode === "draw") setTool("hint"); // and, on the pad, switches to the hint brush
});
$("hint-undo").addEventListener("click", () => {
  if (activeHints().undo()) rerun(0);
});
$("hint-clear").addEventListener("click", () => {
  activeHints().clear();
  rerun(0);
});

// ------------------------------------------------------------------ the drawing pad
const pad = $("pad");
const padCtx = pad.getContext("2d", { willReadFrequently: true });
const undoStack = [];
let erasing = false;
let hinting = false; // the pad's tool is the colour-hint brush (hint models)
let drawing = null;
let debounce = null;

function padSize() {
  const multiple = Math.max(state.spec.sizeMultiple, 1);
  const size = state.spec.trainSize || 256;
  return Math.max(Math.ceil(size / multiple) * multiple, state.spec.minSize);
}

function clearPad() {
  padCtx.fillStyle = "white";
  padCtx.fillRect(0, 0, pad.width, pad.height);
}

function scheduleTranslate(delay = 250) {
  want();
  clearTimeout(debounce);
  debounce = setTimeout(() => {
    const ticket = state.wanted;
    enqueue(async () => {
      const strokes = state.takesHints ? state.hints.pad.strokes() : null;
      const out = await timedTranslate(imageFromCanvas(pad), "drawing", strokes);
      drawImage($("draw-result"), out);
    })
      .catch(showError)
      .finally(() => drawn(ticket));
  }, delay);
}

function point(event) {
  const box = pad.getBoundingClientRect();
  return [((event.clientX - box.left) * pad.width) / box.width, ((event.clientY - box.top) * pad.height) / box.height];
}

pad.addEventListener("pointerdown", (event) => {
  if (hinting) return; // the hint brush draws (hintBrush below)
  event.preventDefault();
  pad.setPointerCapture(event.pointerId);
  undoStack.push(padCtx.getImageData(0, 0, pad.width, pad.height));
  if (undoStack.length > 50) undoStack.shift();
  drawing = point(event);
  const width = Number($("line-width").value) * (event.pointerType === "pen" && event.pressure ? 0.5 + event.pressure : 1);
  padCtx.fillStyle = erasing ? "white" : "black";
  padCtx.beginPath();
  padCtx.arc(drawing[0], drawing[1], (erasing ? 3 * width : width) / 2, 0, 2 * Math.PI);
  padCtx.fill();
});

pad.addEventListener("pointermove", (event) => {
  if (!drawing) return;
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
  for (const e of events.length ? events : [event]) {
    const next = point(e);
    const width = Number($("line-width").value) * (e.pointerType === "pen" && e.pressure ? 0.5 + e.pressure : 1);
    padCtx.strokeStyle = erasing ? "white" : "black";
    padCtx.lineWidth = erasing ? 3 * width : width;
    padCtx.lineCap = "round";
    padCtx.beginPath();
    padCtx.moveTo(drawing[0], drawing[1]);
    padCtx.lineTo(next[0], next[1]);
    padCtx.stroke();
    drawing = next;
  }
  scheduleTranslate(400); // while drawing: a result when the hand pauses
});

function endStroke() {
  if (!drawing) return;
  drawing = null;
  scheduleTranslate(150);
}
pad.addEventListener("pointerup", endStroke);
pad.addEventListener("pointercancel", endStroke);

function setTool(tool) {
  erasing = tool === "eraser";
  hinting = tool === "hint";
  for (const [id, name] of [["pen", "pen"], ["eraser", "eraser"], ["hint-brush", "hint"]]) {
    $(id).classList.toggle("active", tool === name);
    $(id).setAttribute("aria-pressed", String(tool === name));
  }
}
$("pen").addEventListener("click", () => setTool("pen"));
$("eraser").addEventListener("click", () => setTool("eraser"));
$("hint-brush").addEventListener("click", () => setTool("hint"));
state.hints.pad = new HintLayer($("pad-hints"));
hintBrush(pad, state.hints.pad, () => hinting, scheduleTranslate);
$("undo").addEventListener("click", () => {
  const previous = undoStack.pop();
  if (previous) {
    padCtx.putImageData(previous, 0, 0);
    scheduleTranslate(0);
  }
});
$("clear").addEventListener("click", () => {
  undoStack.push(padCtx.getImageData(0, 0, pad.width, pad.height));
  clearPad();
  scheduleTranslate(0);
});

// ------------------------------------------------------------------ photos
const drop = $("drop");
["dragenter", "dragover"].forEach((name) =>
  drop.addEventListener(name, (event) => {
    event.preventDefault();
    drop.classList.add("over");
  }),
);
["dragleave", "drop"].forEach((name) => drop.addEventListener(name, () => drop.classList.remove("over")));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  const file = event.dataTransfer.files[0];
  if (file) openPhoto(file).catch(showError);
});
$("file").addEventListener("change", (event) => {
  const file = event.target.files[0];
  if (file) openPhoto(file).catch(showError);
});

// a browser tab holds about 60 bytes per input pixel (canvases, float copies, the output): larger
// photos are refused with a message instead of crashing the tab (img2img-onnx has no such limit)
const MAX_PHOTO_PIXELS = 40e6;

async function openPhoto(file) {
  setStatus(`reading ${file.name}`, "running");
  const bitmap = await createImageBitmap(file, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  const { width, height } = bitmap;
  if (width * height > MAX_PHOTO_PIXELS) {
    bitmap.close();
    throw new Error(
      `${file.name} is ${width} x ${height} (${((width * height) / 1e6).toFixed(1)} megapixels); the page takes photos up to ` +
        `${MAX_PHOTO_PIXELS / 1e6} megapixels: downsize it, or run img2img-onnx on it`,
    );
  }
  const source = document.createElement("canvas");
  source.width = bitmap.width;
  source.height = bitmap.height;
  const ctx = source.getContext("2d", { willReadFrequently: true });
  ctx.fillStyle = "white"; // alpha over white, as img2img_runtime reads files
  ctx.fillRect(0, 0, source.width, source.height);
  ctx.drawImage(bitmap, 0, 0);
  state.photo = { source, name: file.name };
  if (state.takesHints) {
    const input = $("hint-input");
    input.width = source.width;
    input.height = source.height;
    input.getContext("2d").drawImage(source, 0, 0);
    state.hints.photo.resize(source.width, source.height); // a new photo starts without hints
    $("hint-figure").hidden = false;
  }
  await showPhoto();
}

// the open photo through the model (again when the number of views or the hints change)
async function showPhoto(ticket = want()) {
  try {
    await drawPhoto();
  } finally {
    drawn(ticket);
  }
}

async function drawPhoto() {
  const { source, name } = state.photo;
  const strokes = state.takesHints ? state.hints.photo.strokes() : null;
  const out = await enqueue(() => timedTranslate(imageFromCanvas(source), name, strokes));
  const after = $("after");
  drawImage(after, out);
  const before = $("before");
  before.width = out.width;
  before.height = out.height;
  const beforeCtx = before.getContext("2d");
  beforeCtx.imageSmoothingQuality = "high";
  beforeCtx.drawImage(source, 0, 0, out.width, out.height); // the input at the output's size
  $("compare").hidden = false;
  updateSlider();
  const link = $("download");
  if (link.href) URL.revokeObjectURL(link.href);
  const blob = await new Promise((resolve) => after.toBlob(resolve, "image/png"));
  link.href = URL.createObjectURL(blob);
  link.download = name.replace(/\.[^.]+$/, "") + "_img2img.png";
  link.dataset.ready = "true";
}

let photoDebounce = null;
function schedulePhoto(delay = 250) {
  clearTimeout(photoDebounce);
  want();
  photoDebounce = setTimeout(() => showPhoto(state.wanted).catch(showError), delay);
}
state.hints.photo = new HintLayer($("hint-layer"));
hintBrush($("hint-input"), state.hints.photo, () => true, schedulePhoto);

function updateSlider() {
  const value = Number($("slider").value);
  $("before").style.clipPath = `inset(0 ${100 - value}% 0 0)`;
}
$("slider").addEventListener("input", updateSlider);

// ------------------------------------------------------------------ timing (bench/web_speed.py)
// ms per translation of a random width x height image, including pre- and post-processing
state.time = async (width, height, repeats = 5, warmup = 1) => {
  const channels = imageChannels(state.spec);
  const data = new Uint8ClampedArray(width * height * channels);
  for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
  const image = { width, height, channels, data };
  const times = [];
  for (let i = 0; i < warmup + repeats; i++) {
    const started = performance.now();
    await enqueue(() => translate(run, image, state.spec, null, state.views));
    if (i >= warmup) times.push(performance.now() - started);
  }
  return times;
};

// ------------------------------------------------------------------ self-ensemble
// 1 view, or the average over 2, 4 or 8 flips and transposes (img2img translate --self-ensemble):
// chosen on the page, from ?views=N, or from `img2img web --self-ensemble N`
function setViews(views) {
  state.views = checkSelfEnsemble(views);
  $("views").value = String(state.views);
}
$("views").addEventListener("change", () => {
  setViews($("views").value);
  if (state.mode === "draw") scheduleTranslate(0);
  else if (state.photo) showPhoto().catch(showError);
});

// ------------------------------------------------------------------ start
function showMode(mode) {
  state.mode = mode;
  $("draw").hidden = mode !== "draw";
  $("photo").hidden = mode !== "photo";
  for (const button of document.querySelectorAll("#modes button"))
    button.setAttribute("aria-current", String(button.dataset.mode === mode));
}
for (const button of document.querySelectorAll("#modes button"))
  button.addEventListener("click", () => showMode(button.dataset.mode));

function showError(error) {
  console.error(error);
  setStatus(`error: ${error.message || error}`, "error");
}

async function start() {
  const response = await fetch("model.json");
  const info = await response.json();
  if (!response.ok || info.error) throw new Error(info.error || `model.json: HTTP ${response.status}`);
  state.config = info.config;
  state.spec = specFromConfig(info.config);
  state.takesHints = Boolean(info.takes_hints) && Boolean(state.spec.hints);
  for (const element of document.querySelectorAll(".hint-only")) element.hidden = !state.takesHints;
  ort.env.wasm.wasmPaths = new URL("./ort/", location.href).href;
  ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
  state.session = await ort.InferenceSession.create("model.onnx", { executionProviders: ["wasm"] });
  const c = state.config;
  const training = c.training || {};
  const what = training.recipe || c.task;
  $("model-info").textContent =
    `${info.name}: ${what}${what !== c.task ? ` (${c.task})` : ""}, ${(info.bytes / 1e6).toFixed(1)} MB, ` +
    `${c.input.channels} -> ${c.output.channels} channels${c.scale > 1 ? `, x${c.scale}` : ""}` +
    `${training.size ? `, trained on ${training.size} px` : ""}${state.takesHints ? ", takes colour hints" : ""}; ` +
    `${ort.env.wasm.numThreads} thread(s)`;
  let note = "";
  try {
    setViews(new URLSearchParams(location.search).get("views") || info.self_ensemble || 1);
  } catch (error) {
    setViews(1); // a mistyped ?views= leaves the page usable, and says so
    note = ` (1 view: ${error.message})`;
  }
  const size = padSize();
  pad.width = pad.height = size;
  clearPad();
  state.hints.pad.resize(size, size);
  showMode(what === "sketch" ? "draw" : "photo");
  setStatus(`ready${note}`, "ready");
}

start().catch(showError);
