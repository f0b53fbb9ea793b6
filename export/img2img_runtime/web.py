"""The browser page: run an exported model client-side with onnxruntime-web.

``serve(model)`` serves the page and the model from localhost (``img2img web --model m.onnx``);
``write_site(model, folder)`` writes the same files as a static site for any web host
(``img2img web --model m.onnx --static SITE/``). The page (``img2img_runtime/web/``: plain
JavaScript modules, and onnxruntime-web's files in ``web/ort/``, copied by ``npm run build`` in
``export/web/``) loads ``model.onnx`` and ``model.json`` (the model's img2img metadata, its name
and size) and follows the same pre- and post-processing as :mod:`img2img_runtime.processing`.
For a hint model (``model.json``'s ``takes_hints``) the page adds a colour brush: its strokes are
an RGBA image of the input's size, turned into the hint channels in the browser as
:func:`img2img_runtime.hints.hint_planes` does.

The server answers only for the page's own files and the model (no directory listing, nothing
else on disk), binds to ``127.0.0.1`` by default, and sends the cross-origin isolation headers
that let onnxruntime-web use several threads.
"""

from __future__ import annotations

import http.server
import json
import mimetypes
import os
import shutil
import threading
from importlib import resources
from pathlib import Path
from typing import Any

from .hints import hint_channels
from .metadata import read_metadata
from .processing import check_self_ensemble
from .zoo import resolve_onnx

PAGE_FILES = ("index.html", "app.js", "processing.js", "style.css")
ORT_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm", "NOTICE.txt")
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".wasm": "application/wasm",
    ".json": "application/json",
    ".onnx": "application/octet-stream",
    ".txt": "text/plain; charset=utf-8",
}
# cross-origin isolation: SharedArrayBuffer, so onnxruntime-web can run on several threads
ISOLATION_HEADERS = {"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp"}


class WebModelError(ValueError):
    """The model cannot run on the page (no img2img metadata, or an input the page cannot feed)."""


def page_dir() -> Path:
    """The built page inside the installed package."""
    folder = Path(str(resources.files("img2img_runtime") / "web"))
    missing = [name for name in (*PAGE_FILES, *(f"ort/{n}" for n in ORT_FILES)) if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"the page's files are missing from {folder} ({', '.join(missing)}): onnxruntime-web's come from "
            "`cd export/web && npm ci && npm run build`"
        )
    return folder


def model_info(model: str | os.PathLike, *, self_ensemble: int = 1) -> dict[str, Any]:
    """``{"name", "bytes", "config", "self_ensemble", "takes_hints"}`` of a model the page can run,
    for its ``model.json``. ``self_ensemble`` (1, 2, 4 or 8) is the page's starting number of views
    (see :func:`img2img_runtime.processing.self_ensembled`); the page's "Views" menu and a
    ``?views=N`` in its address change it. ``takes_hints``: a hint model (``config["hints"]``), for
    which the page shows its colour brush (hidden for every other model).

    Raises:
        FileNotFoundError: no such file.
        WebModelError: not an img2img export, a GAN lab model (noise in), or channels the page
            cannot feed (it feeds 1 or 3).
        ValueError: ``self_ensemble`` is not 1, 2, 4 or 8.
    """
    self_ensemble = check_self_ensemble(self_ensemble)
    path = resolve_onnx(model)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    try:
        config = read_metadata(path)
    except ValueError as error:
        raise WebModelError(str(error)) from error
    except Exception as error:  # onnxruntime's own errors: not an ONNX file at all
        raise WebModelError(f"{path} is not an ONNX model onnxruntime can read ({error})") from error
    if "latent" in config:
        raise WebModelError(
            f"{path} is a GAN lab model (noise -> image); the page runs image models (draw from it with img2img sample)"
        )
    hints = (config.get("hints") or {}).get("space")
    channels = int(config["input"]["channels"]) - hint_channels(hints)  # the image's, before the hints'
    if channels not in (1, 3):
        raise WebModelError(f"{path} takes {channels}-channel images; the page feeds 1 (gray) or 3 (RGB) channels")
    lab = (config.get("color") or {}).get("space") == "lab"
    out_channels = int(config["output"]["channels"])
    if out_channels not in ((2,) if lab else (1, 3)):
        raise WebModelError(f"{path} draws {out_channels}-channel images; the page shows 1 (gray) or 3 (RGB) channels")
    if lab and (config.get("color") or {}).get("resolution"):
        raise WebModelError(
            f"{path} predicts colour at a lower resolution (color.resolution); the page colours at full "
            "resolution only: export the model without it"
        )
    return {
        "name": path.stem,
        "bytes": path.stat().st_size,
        "config": config,
        "self_ensemble": self_ensemble,
        "takes_hints": hints is not None,
    }


def routes(model: str | os.PathLike, *, self_ensemble: int = 1) -> dict[str, Path | bytes]:
    """URL path -> file (or bytes) of everything the page may load: the page, onnxruntime-web,
    ``/model.onnx`` and ``/model.json``. Nothing else is served."""
    info = model_info(model, self_ensemble=self_ensemble)
    folder = page_dir()
    table: dict[str, Path | bytes] = {f"/{name}": folder / name for name in PAGE_FILES}
    table.update({f"/ort/{name}": folder / "ort" / name for name in ORT_FILES})
    table["/"] = folder / "index.html"
    table["/model.onnx"] = resolve_onnx(model)
    table["/model.json"] = json.dumps(info).encode()
    return table


def write_site(model: str | os.PathLike, out: str | os.PathLike, *, self_ensemble: int = 1) -> Path:
    """Write the page with the model as a static site in ``out`` (created; files there are replaced).

    Any static host serves it; for several threads the host must send the headers of
    :data:`ISOLATION_HEADERS` (without them the page runs on one thread). ``self_ensemble``: the
    page's starting number of views (see :func:`model_info`)."""
    table = routes(model, self_ensemble=self_ensemble)
    out = Path(out)
    for url, source in table.items():
        if url == "/":
            continue
        target = out / url.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(source, bytes):
            target.write_bytes(source)
        elif not (target.exists() and os.path.samefile(source, target)):  # rebuilt from its own model.onnx
            shutil.copyfile(source, target)
    return out


class _Handler(http.server.BaseHTTPRequestHandler):
    table: dict[str, Path | bytes] = {}
    server_version = "img2img-web"

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self._answer(body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(body=False)

    def _answer(self, body: bool) -> None:
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        source = self.table.get(path)
        if source is None:
            self.send_error(404, "not found")
            return
        data = source if isinstance(source, bytes) else source.read_bytes()
        suffix = ".json" if isinstance(source, bytes) else source.suffix
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPES.get(suffix, mimetypes.guess_type(path)[0] or "text/plain"))
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for key, value in ISOLATION_HEADERS.items():
            self.send_header(key, value)
        self.end_headers()
        if body:
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet: the CLI prints the URL
        pass


def serve(
    model: str | os.PathLike,
    *,
    port: int = 8765,
    host: str = "127.0.0.1",
    background: bool = False,
    self_ensemble: int = 1,
) -> http.server.ThreadingHTTPServer:
    """Serve the page and ``model`` at ``http://host:port/`` (``port=0``: any free port; the
    server's ``server_address`` says which). ``background=True`` returns at once with the server
    running in a daemon thread (``server.shutdown()`` stops it); otherwise this blocks until
    Ctrl-C. ``self_ensemble``: the page's starting number of views (see :func:`model_info`)."""
    handler = type("Handler", (_Handler,), {"table": routes(model, self_ensemble=self_ensemble)})
    server = http.server.ThreadingHTTPServer((host, port), handler)
    if background:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return server


def url_of(server: http.server.ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/"


__all__ = ["ISOLATION_HEADERS", "WebModelError", "model_info", "page_dir", "routes", "serve", "url_of", "write_site"]
