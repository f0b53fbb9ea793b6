// Pre- and post-processing of img2img's exported models in the browser: the same steps, in the
// same order and arithmetic, as img2img_runtime/processing.py (the Python runtime), so the page
// gives the same pixels (within one grey level: JavaScript rounds halves up, numpy to even).
//
// Images here are {width, height, channels, data: Uint8ClampedArray (H x W x C, row-major)}.
// Colour hints (hint models, img2img_runtime/hints.py) are strokes: an RGBA image of the input's size,
// {width, height, data: Uint8ClampedArray (H x W x 4)}, where alpha >= 128 marks a hint of that colour.

export function specFromConfig(config) {
  const color = config.color || {};
  const training = config.training || {};
  return {
    inChannels: config.input.channels,
    outChannels: config.output.channels,
    scale: config.scale || 1,
    sizeMultiple: config.size_multiple || 1,
    minSize: config.min_size || 1,
    color: color.space || "rgb",
    abScale: color.ab_scale || 110.0,
    colorResolution: color.resolution || null,
    trainSize: training.size || null,
    imageStatistics: Boolean(config.image_statistics),
    hints: (config.hints && config.hints.space) || null, // "ab" (Lab models), "rgb" or null: no hints
    hintChannels: hintChannels((config.hints && config.hints.space) || null),
    // the Python runtime's default overlap when the metadata leave it out (model.py)
    tile:
      config.tile && config.tile.size
        ? [config.tile.size, config.tile.overlap ?? Math.max(16, Math.floor(config.tile.size / 8))]
        : null,
  };
}

export function imageChannels(spec) {
  return spec.color === "lab" ? 3 : spec.inChannels - (spec.hintChannels || 0);
}

// RGBA from a canvas -> H x W x channels (gray: OpenCV's fixed-point BT.601 luma, as cv2.cvtColor:
// 15-bit coefficients, equal to it on all 2^24 colours)
export function fromRGBA(rgba, width, height, channels) {
  const out = new Uint8ClampedArray(width * height * channels);
  for (let i = 0, j = 0; i < width * height; i++, j += 4) {
    if (channels === 3) {
      out[3 * i] = rgba[j];
      out[3 * i + 1] = rgba[j + 1];
      out[3 * i + 2] = rgba[j + 2];
    } else {
      out[i] = (rgba[j] * 9798 + rgba[j + 1] * 19235 + rgba[j + 2] * 3735 + 16384) >> 15;
    }
  }
  return { width, height, channels, data: out };
}

export function toRGBA(image) {
  const { width, height, channels, data } = image;
  const out = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    const c = channels === 1 ? [data[i], data[i], data[i]] : [data[3 * i], data[3 * i + 1], data[3 * i + 2]];
    out[4 * i] = c[0];
    out[4 * i + 1] = c[1];
    out[4 * i + 2] = c[2];
    out[4 * i + 3] = 255;
  }
  return out;
}

// ---------------------------------------------------------------- CIE Lab (as img2img_runtime/color.py)
const RGB_TO_XYZ = [
  [0.412453, 0.35758, 0.180423],
  [0.212671, 0.71516, 0.072169],
  [0.019334, 0.119193, 0.950227],
];
const XYZ_TO_RGB = invert3(RGB_TO_XYZ);
const WHITE = [0.95047, 1.0, 1.08883];
const EPS = 0.008856;

function invert3(m) {
  const [a, b, c] = m[0];
  const [d, e, f] = m[1];
  const [g, h, i] = m[2];
  const A = e * i - f * h, B = -(d * i - f * g), C = d * h - e * g;
  const det = a * A + b * B + c * C;
  return [
    [A / det, -(b * i - c * h) / det, (b * f - c * e) / det],
    [B / det, (a * i - c * g) / det, -(a * f - c * d) / det],
    [C / det, -(a * h - b * g) / det, (a * e - b * d) / det],
  ];
}

export function lightness(r, g, b) {
  // sRGB in [0, 1] -> L in [0, 100]
  const lin = (v) => (v > 0.04045 ? Math.pow((Math.max(v, 0) + 0.055) / 1.055, 2.4) : v / 12.92);
  const R = lin(r), G = lin(g), B = lin(b);
  const y = (RGB_TO_XYZ[1][0] * R + RGB_TO_XYZ[1][1] * G + RGB_TO_XYZ[1][2] * B) / WHITE[1];
  const fy = y > EPS ? Math.cbrt(Math.max(y, EPS)) : 7.787 * y + 4.0 / 29.0;
  return Math.fround(116.0 * fy - 16.0);
}

// sRGB in [0, 1] -> [L, a, b] (float64, as color.rgb_to_lab before its cast to float32)
export function rgbToLab(r, g, b) {
  const lin = (v) => (v > 0.04045 ? Math.pow((Math.max(v, 0) + 0.055) / 1.055, 2.4) : v / 12.92);
  const rgb = [lin(r), lin(g), lin(b)];
  const f = [0, 1, 2].map((k) => {
    const t = (RGB_TO_XYZ[k][0] * rgb[0] + RGB_TO_XYZ[k][1] * rgb[1] + RGB_TO_XYZ[k][2] * rgb[2]) / WHITE[k];
    return t > EPS ? Math.cbrt(Math.max(t, EPS)) : 7.787 * t + 4.0 / 29.0;
  });
  return [116.0 * f[1] - 16.0, 500.0 * (f[0] - f[1]), 200.0 * (f[1] - f[2])];
}

export function labToRGB(L, a, b) {
  const fy = (L + 16.0) / 116.0;
  const f = [a / 500.0 + fy, fy, fy - b / 200.0];
  const xyz = f.map((v, k) => (v > 6.0 / 29.0 ? v * v * v : (v - 4.0 / 29.0) / 7.787) * WHITE[k]);
  const rgb = [0, 1, 2].map((k) => {
    const lin = Math.max(0, XYZ_TO_RGB[k][0] * xyz[0] + XYZ_TO_RGB[k][1] * xyz[1] + XYZ_TO_RGB[k][2] * xyz[2]);
    const v = lin > 0.0031308 ? 1.055 * Math.pow(lin, 1 / 2.4) - 0.055 : 12.92 * lin;
    return Math.min(1, Math.max(0, v));
  });
  return rgb;
}

// ---------------------------------------------------------------- colour hints (as img2img_runtime/hints.py)
export const HINT_SPACES = { ab: 3, rgb: 4 }; // space -> channels (colour + mask)
export const ALPHA_THRESHOLD = 128; // stroke pixels with at least this alpha are hints
export const NO_HINTS_MESSAGE =
  "takes no colour hints (it was trained without --hints); run it without hints, " +
  "or train a hint model: img2img train pix2pix --task colorize --hints";

export class HintError extends Error {
  constructor(message) {
    super(message);
    this.name = "HintError";
  }
}

export function hintChannels(space) {
  if (space === null || space === undefined) return 0;
  if (!(space in HINT_SPACES)) throw new Error(`unknown hint space ${space}; known: ${Object.keys(HINT_SPACES).join(", ")}`);
  return HINT_SPACES[space];
}

export function checkHintsAllowed(spec, hints, source = "this model") {
  if (!spec.hints && hints) throw new HintError(`${source} ${NO_HINTS_MESSAGE}`);
}

// one hint colour (0-255) -> its colour channels (float32 values, as hints._encode)
export function encodeHint(r, g, b, space, abScale = 110.0) {
  if (space === "rgb") return [r, g, b].map((v) => Math.fround(v / 127.5 - 1.0));
  const lab = rgbToLab(r / 255.0, g / 255.0, b / 255.0);
  return [Math.fround(Math.fround(lab[1]) / abScale), Math.fround(Math.fround(lab[2]) / abScale)];
}

// strokes (or null: no hints) -> the hint channels of one height x width image: Float32Array C x H x W,
// the colour channels then the mask (1 where a hint is), as hints.hint_planes
export function hintPlanes(strokes, height, width, spec) {
  const channels = hintChannels(spec.hints);
  const plane = height * width;
  const planes = new Float32Array(channels * plane);
  if (!strokes) return planes;
  if (strokes.width !== width || strokes.height !== height)
    throw new HintError(
      `hint strokes are ${strokes.width} x ${strokes.height} but the image is ${width} x ${height}: ` +
        "draw them on a transparent image of the input's size",
    );
  const { data } = strokes;
  if (!data || data.length !== plane * 4)
    throw new HintError(`hint strokes must be RGBA, ${width} x ${height} x 4 values, got ${data ? data.length : data}`);
  const codes = new Map(); // a stroke has few colours: encode each once
  for (let i = 0; i < plane; i++) {
    if (data[4 * i + 3] < ALPHA_THRESHOLD) continue;
    const key = (data[4 * i] << 16) | (data[4 * i + 1] << 8) | data[4 * i + 2];
    let code = codes.get(key);
    if (code === undefined) {
      code = encodeHint(data[4 * i], data[4 * i + 1], data[4 * i + 2], spec.hints, spec.abScale);
      codes.set(key, code);
    }
    for (let k = 0; k < channels - 1; k++) planes[k * plane + i] = code[k];
    planes[(channels - 1) * plane + i] = 1.0;
  }
  return planes;
}

// ---------------------------------------------------------------- tensors
// A net input is {c, h, w, data: Float32Array (C x H x W)}.

// hints: strokes or null (hint models only; see hintPlanes); they follow the image's channels
export function prepare(image, spec, hints = null) {
  const { width: w, height: h, data } = image;
  checkHintsAllowed(spec, hints);
  const planes = spec.hints ? hintPlanes(hints, h, w, spec) : null;
  const extra = planes ? planes.length / (h * w) : 0;
  if (spec.color !== "lab") {
    const c = image.channels;
    const out = new Float32Array((c + extra) * h * w);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let k = 0; k < c; k++) out[k * h * w + y * w + x] = Math.fround(Math.fround(data[(y * w + x) * c + k] * Math.fround(1 / 127.5)) - 1);
    if (planes) out.set(planes, c * h * w);
    return { input: { c: c + extra, h, w, data: out }, context: null };
  }
  const L = new Float32Array(h * w);
  for (let i = 0; i < h * w; i++) L[i] = lightness(data[3 * i] / 255, data[3 * i + 1] / 255, data[3 * i + 2] / 255);
  const input = new Float32Array((1 + extra) * h * w);
  for (let i = 0; i < h * w; i++) input[i] = L[i] / 50.0 - 1.0;
  if (planes) input.set(planes, h * w);
  return { input: { c: 1 + extra, h, w, data: input }, context: L };
}

export function finish(output, context, spec) {
  // output: {c, h, w, data} already cropped -> uint8 image
  const { h, w, data } = output;
  if (spec.color !== "lab") {
    const c = output.c;
    const out = new Uint8ClampedArray(h * w * c);
    for (let k = 0; k < c; k++)
      for (let i = 0; i < h * w; i++) {
        const v = (data[k * h * w + i] + 1.0) * 127.5;
        out[i * c + k] = Math.round(Math.min(255, Math.max(0, v)));
      }
    return { width: w, height: h, channels: c, data: out };
  }
  const L = context;
  const out = new Uint8ClampedArray(h * w * 3);
  for (let i = 0; i < h * w; i++) {
    const rgb = labToRGB(L[i], data[i] * spec.abScale, data[h * w + i] * spec.abScale);
    for (let k = 0; k < 3; k++) out[3 * i + k] = Math.round(rgb[k] * 255.0);
  }
  return { width: w, height: h, channels: 3, data: out };
}

export function paddingFor(height, width, multiple, minSize = 1) {
  const target = (n) => Math.max(Math.ceil(n / multiple), Math.ceil(minSize / multiple)) * multiple;
  return [target(height) - height, target(width) - width];
}

function reflectIndex(i, n, mode) {
  if (i < n) return i;
  if (mode === "edge") return n - 1;
  return 2 * (n - 1) - i; // numpy "reflect": mirror without repeating the edge
}

// N inputs of one size -> one padded batch tensor data (N x C x H' x W')
export function padBatch(inputs, spec) {
  const { c, h, w } = inputs[0];
  const [ph, pw] = paddingFor(h, w, spec.sizeMultiple, spec.minSize);
  const mode = ph < h && pw < w ? "reflect" : "edge";
  const H = h + ph, W = w + pw;
  const out = new Float32Array(inputs.length * c * H * W);
  inputs.forEach((input, n) => {
    for (let k = 0; k < c; k++)
      for (let y = 0; y < H; y++) {
        const sy = reflectIndex(y, h, mode);
        for (let x = 0; x < W; x++) out[((n * c + k) * H + y) * W + x] = input.data[(k * h + sy) * w + reflectIndex(x, w, mode)];
      }
  });
  return { data: out, dims: [inputs.length, c, H, W] };
}

// run: async (Float32Array, dims) -> {data, dims}; returns cropped outputs, one per input
export async function runPadded(run, inputs, spec) {
  const { h, w } = inputs[0];
  const batch = padBatch(inputs, spec);
  const result = await run(batch.data, batch.dims);
  const [n, c, H, W] = result.dims;
  const oh = h * spec.scale, ow = w * spec.scale;
  const outs = [];
  for (let i = 0; i < n; i++) {
    const data = new Float32Array(c * oh * ow);
    for (let k = 0; k < c; k++)
      for (let y = 0; y < oh; y++) {
        const src = ((i * c + k) * H + y) * W;
        data.set(result.data.subarray(src, src + ow), (k * oh + y) * ow);
      }
    outs.push({ c, h: oh, w: ow, data });
  }
  return outs;
}

function tileStarts(length, tile, overlap) {
  if (!(overlap >= 0 && overlap < tile)) throw new Error(`tile overlap must be in [0, ${tile}), got ${overlap}`);
  if (length <= tile) return [0];
  const starts = [];
  for (let s = 0; s < length - tile; s += tile - overlap) starts.push(s);
  starts.push(length - tile);
  return starts;
}

function ramp(length, overlap, startFade, endFade) {
  const weight = new Float32Array(length).fill(1);
  const n = Math.min(overlap, Math.floor(length / 2));
  for (let i = 0; i < n; i++) {
    const rise = (i + 1) / (n + 1);
    if (startFade) weight[i] = Math.min(weight[i], rise);
    if (endFade) weight[length - 1 - i] = Math.min(weight[length - 1 - i], rise);
  }
  return weight;
}

export async function runTiled(run, input, spec, tile, overlap, batchSize = 4, onTile = null) {
  const { c, h, w } = input;
  const s = spec.scale;
  const ys = tileStarts(h, tile, overlap), xs = tileStarts(w, tile, overlap);
  const th = Math.min(tile, h), tw = Math.min(tile, w);
  const H = h * s, W = w * s;
  let out = null;
  const weightSum = new Float32Array(H * W);
  const boxes = [];
  for (const y of ys) for (const x of xs) boxes.push([y, x]);
  for (let start = 0; start < boxes.length; start += batchSize) {
    const chunk = boxes.slice(start, start + batchSize);
    const tiles = chunk.map(([y, x]) => {
      const data = new Float32Array(c * th * tw);
      for (let k = 0; k < c; k++)
        for (let r = 0; r < th; r++) {
          const src = (k * h + y + r) * w + x;
          data.set(input.data.subarray(src, src + tw), (k * th + r) * tw);
        }
      return { c, h: th, w: tw, data };
    });
    const results = await runPadded(run, tiles, spec);
    if (out === null) out = { c: results[0].c, h: H, w: W, data: new Float32Array(results[0].c * H * W) };
    chunk.forEach(([y, x], i) => {
      const result = results[i];
      const wy = ramp(th * s, overlap * s, y > 0, y + th < h);
      const wx = ramp(tw * s, overlap * s, x > 0, x + tw < w);
      for (let r = 0; r < th * s; r++)
        for (let q = 0; q < tw * s; q++) {
          const weight = wy[r] * wx[q];
          const o = (y * s + r) * W + x * s + q;
          weightSum[o] += weight;
          for (let k = 0; k < out.c; k++) out.data[k * H * W + o] += result.data[(k * th * s + r) * tw * s + q] * weight;
        }
    });
    if (onTile) onTile(start + chunk.length, boxes.length);
  }
  for (let k = 0; k < out.c; k++) for (let o = 0; o < H * W; o++) out.data[k * H * W + o] /= weightSum[o];
  return out;
}

// the tile the Python runtime suggests (img2img_runtime.processing.suggested_tile)
export function suggestedTile(spec) {
  if (spec.tile) return spec.tile;
  const multiple = Math.max(spec.sizeMultiple, 1);
  let tile;
  if (spec.scale === 1 && multiple > 1 && spec.trainSize) {
    tile = Math.max(spec.trainSize, 2 * multiple, spec.minSize);
    tile = Math.ceil(tile / multiple) * multiple;
    return [tile, Math.min(Math.max(16, Math.floor(tile / 4)), Math.floor(tile / 2))];
  }
  tile = Math.max(spec.scale > 1 ? 128 : 512, 2 * multiple, spec.minSize);
  tile = Math.ceil(tile / multiple) * multiple;
  return [tile, Math.min(Math.max(16, Math.floor(tile / 8)), Math.floor(tile / 2))];
}

// ---------------------------------------------------------------- self-ensemble
// as img2img_runtime.processing.self_ensembled: view k (0-7) of an N x C x H x W batch mirrors
// left-right (bit 1), turns upside down (bit 2), then swaps H and W (bit 4); the outputs are turned
// back and averaged in float32.
export const SELF_ENSEMBLE_VIEWS = [1, 2, 4, 8];

export function checkSelfEnsemble(views) {
  const n = Number(views);
  if (!SELF_ENSEMBLE_VIEWS.includes(n))
    throw new Error(`self-ensemble takes 1 (off), 2 (+ the mirror image), 4 (+ upside down) or 8 (+ transposed), not ${views}`);
  return n;
}

// View k of a batch (inverse = false: dims are the original's) or the original back from view k's
// data (inverse = true: dims are the view's). (y, x) of the flipped picture is (fy, fx) of the
// original, and sits at (x, y) of the view when it is transposed.
function viewBatch(data, dims, k, inverse) {
  const [n, c] = dims;
  const swap = Boolean(k & 4);
  const [H, W] = inverse && swap ? [dims[3], dims[2]] : [dims[2], dims[3]]; // the original's size
  const out = new Float32Array(data.length);
  const plane = H * W;
  for (let p = 0; p < n * c; p++) {
    const base = p * plane;
    for (let y = 0; y < H; y++) {
      const fy = k & 2 ? H - 1 - y : y;
      for (let x = 0; x < W; x++) {
        const original = base + fy * W + (k & 1 ? W - 1 - x : x);
        const viewed = base + (swap ? x * H + y : y * W + x);
        if (inverse) out[original] = data[viewed];
        else out[viewed] = data[original];
      }
    }
  }
  return { data: out, dims: !inverse && swap ? [n, c, W, H] : [n, c, H, W] };
}

// run: async (Float32Array, dims) -> {data, dims}; the same, averaged over `views` views
export function selfEnsembled(run, views) {
  views = checkSelfEnsemble(views);
  if (views === 1) return run;
  return async (data, dims) => {
    let total = null;
    let outDims = null;
    for (let k = 0; k < views; k++) {
      const view = viewBatch(data, dims, k, false);
      const result = await run(view.data, view.dims);
      const back = viewBatch(Float32Array.from(result.data), result.dims, k, true);
      if (total === null) {
        total = back.data;
        outDims = back.dims;
      } else for (let i = 0; i < total.length; i++) total[i] = Math.fround(total[i] + back.data[i]);
    }
    for (let i = 0; i < total.length; i++) total[i] = Math.fround(total[i] / views);
    return { data: total, dims: outDims };
  };
}

// One image through the model with the runtime's "auto" tiling policy; `views` > 1 self-ensembles
// every batch (as run_images(self_ensemble=views)); `hints`: strokes for a hint model (see hintPlanes),
// tiled and flipped with the image.
export async function translate(run, image, spec, onTile = null, views = 1, hints = null) {
  run = selfEnsembled(run, views);
  const { input, context } = prepare(image, spec, hints);
  const [tile, overlap] = suggestedTile(spec);
  let out;
  if (!spec.imageStatistics && Math.max(input.h, input.w) > 2 * tile) {
    out = await runTiled(run, input, spec, tile, overlap, 4, onTile);
  } else {
    out = (await runPadded(run, [input], spec))[0];
  }
  return finish(out, context, spec);
}
