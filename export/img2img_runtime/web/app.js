// The img2img page: loads model.onnx and model.json (its img2img metadata, written by `img2img web`)
// and runs the model in the browser with onnxruntime-web (WebAssembly). Sketch models get a drawing
// pad translated as you draw; photo models a drop zone, a before/after slider and a download.
import * as ort from "./ort/ort.wasm.min.mjs";
import { checkSelfEnsemble, fromRGBA, imageChannels, specFromConfig, toRGBA, translate } from "./processing.js";

const $ = (id) => document.getElementById(id);
const status = $("status");
const state = { session: null, spec: null, config: null, queue: Promise.resolve(), runs: 0, mode: null, tileLog: [], views: 1, photo: null };
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

async function timedTranslate(image, what) {
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
  );
  const ms = performance.now() - started;
  state.runs += 1;
  state.lastMs = ms;
  const ensemble = views > 1 ? `, ${views} views` : "";
  setStatus(`${what}: ${ms.toFixed(0)} ms (${image.width} x ${image.height}${ensemble})`, "done");
  document.body.dataset.runs = String(state.runs);
  return out;
}

// ------------------------------------------------------------------ the drawing pad
const pad = $("pad");
const padCtx = pad.getContext("2d", { willReadFrequently: true });
const undoStack = [];
let erasing = false;
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
  clearTimeout(debounce);
  debounce = setTimeout(
    () =>
      enqueue(async () => {
        const out = await timedTranslate(imageFromCanvas(pad), "drawing");
        drawImage($("draw-result"), out);
      }).catch(showError),
    delay,
  );
}

function point(event) {
  const box = pad.getBoundingClientRect();
  return [((event.clientX - box.left) * pad.width) / box.width, ((event.clientY - box.top) * pad.height) / box.height];
}

pad.addEventListener("pointerdown", (event) => {
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

function setTool(eraser) {
  erasing = eraser;
  $("pen").classList.toggle("active", !eraser);
  $("eraser").classList.toggle("active", eraser);
  $("pen").setAttribute("aria-pressed", String(!eraser));
  $("eraser").setAttribute("aria-pressed", String(eraser));
}
$("pen").addEventListener("click", () => setTool(false));
$("eraser").addEventListener("click", () => setTool(true));
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
  await showPhoto();
}

// the open photo through the model (again when the number of views changes)
async function showPhoto() {
  const { source, name } = state.photo;
  const out = await enqueue(() => timedTranslate(imageFromCanvas(source), name));
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
  ort.env.wasm.wasmPaths = new URL("./ort/", location.href).href;
  ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
  state.session = await ort.InferenceSession.create("model.onnx", { executionProviders: ["wasm"] });
  const c = state.config;
  const training = c.training || {};
  const what = training.recipe || c.task;
  $("model-info").textContent =
    `${info.name}: ${what}${what !== c.task ? ` (${c.task})` : ""}, ${(info.bytes / 1e6).toFixed(1)} MB, ` +
    `${c.input.channels} -> ${c.output.channels} channels${c.scale > 1 ? `, x${c.scale}` : ""}` +
    `${training.size ? `, trained on ${training.size} px` : ""}; ${ort.env.wasm.numThreads} thread(s)`;
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
  showMode(what === "sketch" ? "draw" : "photo");
  setStatus(`ready${note}`, "ready");
}

start().catch(showError);
