// Copies the onnxruntime-web files the page loads into the Python package, beside the page's own
// source (export/img2img_runtime/web/: index.html, app.js, processing.js, style.css), which ships
// them: `pip install` users need no Node.js.
//   npm ci && npm run build
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "img2img_runtime", "web");
const ortDist = join(here, "node_modules", "onnxruntime-web", "dist");
// the WebAssembly build only (14 MB); the WebGPU builds add 26-28 MB of wasm each
const ORT_FILES = ["ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"];

rmSync(join(out, "ort"), { recursive: true, force: true });
mkdirSync(join(out, "ort"), { recursive: true });
for (const name of ORT_FILES) copyFileSync(join(ortDist, name), join(out, "ort", name));
const ort = JSON.parse(readFileSync(join(here, "node_modules", "onnxruntime-web", "package.json"), "utf8"));
writeFileSync(
  join(out, "ort", "NOTICE.txt"),
  `onnxruntime-web ${ort.version} (${ort.license} license, Copyright (c) Microsoft Corporation), ` +
    "https://github.com/microsoft/onnxruntime: the files in this folder are copied unchanged from its dist/.\n",
);
console.log(`wrote ${join(out, "ort")}`);
