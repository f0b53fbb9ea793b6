"""The browser page (``img2img web``) in a real headless Chromium, driven by playwright.

The Chromium is Debian's (``apt install chromium``, which ``.ci/run`` does); playwright drives it
through ``executable_path`` and never downloads a browser. The tests start the server on tiny
exported models, draw on the pad with real pointer events or drop a photo, and compare the page's
pixels with :mod:`img2img_runtime` on the same input (within one grey level). Screenshots are
written to each test's temp folder.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import export_tiny_sr

from img2img_runtime import Model, web


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


CHROMIUM = find_chromium()
playwright = pytest.importorskip("playwright.sync_api", reason="the playwright package drives the browser")
needs_browser = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (apt install chromium)")


def export_tiny_unet(root: Path, *, recipe: str = "sketch", color: str = "rgb") -> Path:
    """A tiny untrained U-Net (size multiple 16) exported with a training summary naming ``recipe``."""
    import torch

    from img2img.checkpoint import save_pretrained
    from img2img.export import export_onnx
    from img2img.nets import create_model

    torch.manual_seed(0)
    lab = color == "lab"
    net = create_model(
        "unet_256", num_downs=4, base_channels=4, in_channels=1 if lab else 3, out_channels=2 if lab else 3
    ).eval()
    io_spec = {
        "input": {"channels": net.in_channels, "color_space": "lab_l" if lab else "rgb", "range": [-1.0, 1.0]},
        "output": {"channels": net.out_channels, "color_space": "lab_ab" if lab else "rgb", "range": [-1.0, 1.0]},
        "scale": 1,
        "size_multiple": net.size_multiple,
        "min_size": net.min_size,
        "image_statistics": False,
        "color": {"space": "lab", "ab_scale": 110.0, "resolution": None} if lab else {"space": "rgb"},
    }
    folder = root / f"{recipe}_model"
    save_pretrained(
        {"AtoB": net}, folder, task="pix2pix", io_spec=io_spec, training={"recipe": recipe, "size": 64, "steps": 0}
    )
    return export_onnx(folder, root / f"{recipe}.onnx").path


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("no Chromium installed (apt install chromium)")
    with playwright.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield instance
        instance.close()


@pytest.fixture
def served():
    """``img2img web --model M --port 0 --no-browser`` in a subprocess; yields a function that
    starts one and returns its URL (read from the command's first line)."""
    processes = []

    def start(model: Path, *extra: str) -> str:
        command = [sys.executable, "-m", "img2img", "web", "--model", str(model), "--port", "0", "--no-browser", *extra]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        processes.append(process)
        line = process.stdout.readline()
        match = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
        assert match, f"img2img web did not start: {line}{process.stdout.read() if process.poll() is not None else ''}"
        return match.group(1)

    yield start
    for process in processes:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def canvas_pixels(page, selector: str) -> np.ndarray:
    """A canvas's pixels as uint8 RGB (through a lossless PNG data URL)."""
    url = page.eval_on_selector(selector, "c => c.toDataURL('image/png')")
    data = base64.b64decode(url.split(",", 1)[1])
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def open_page(browser, url: str):
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    page.wait_for_selector("#status[data-state='ready']", timeout=30_000)
    return page, errors


@needs_browser
def test_drawing_pad_translates_strokes_like_the_python_runtime(browser, served, tmp_path: Path) -> None:
    model = export_tiny_unet(tmp_path)
    page, errors = open_page(browser, served(model))
    assert page.is_visible("#pad") and not page.is_visible("#drop")  # a sketch model opens the pad
    info = page.text_content("#model-info")
    assert "sketch" in info and "pix2pix" in info and "trained on 64 px" in info
    box = page.locator("#pad").bounding_box()
    # real pointer events: a stroke, then a second one after the first result
    page.mouse.move(box["x"] + 0.2 * box["width"], box["y"] + 0.3 * box["height"])
    page.mouse.down()
    for t in np.linspace(0, 1, 12):
        page.mouse.move(box["x"] + (0.2 + 0.6 * t) * box["width"], box["y"] + (0.3 + 0.4 * t) * box["height"])
    page.mouse.up()
    page.wait_for_function("document.body.dataset.runs >= '1'", timeout=30_000)
    page.locator("#line-width").fill("8")
    page.mouse.move(box["x"] + 0.7 * box["width"], box["y"] + 0.2 * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + 0.3 * box["width"], box["y"] + 0.8 * box["height"], steps=8)
    page.mouse.up()
    page.wait_for_function("document.body.dataset.runs >= '2'", timeout=30_000)
    page.wait_for_function("document.querySelector('#status').dataset.state === 'done'")
    page.screenshot(path=str(tmp_path / "pad.png"))
    drawing = canvas_pixels(page, "#pad")
    assert drawing.shape == (64, 64, 3)
    assert (drawing < 128).any() and (drawing > 128).any()  # strokes on white
    result = canvas_pixels(page, "#draw-result")
    expected = Model(model)(drawing)
    assert result.shape == expected.shape
    assert np.abs(result.astype(int) - expected.astype(int)).max() <= 1
    # undo removes the second stroke, and the result follows
    page.click("#undo")
    page.wait_for_function("document.body.dataset.runs >= '3'", timeout=30_000)
    undone = canvas_pixels(page, "#pad")
    assert (undone < 128).sum() < (drawing < 128).sum()
    assert errors == []


def drop_file(page, selector: str, path: Path) -> None:
    """A real drop event on ``selector`` carrying the file (as a desktop file manager's drag does)."""
    transfer = page.evaluate_handle(
        """([bytes, name]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([new Uint8Array(bytes)], name, { type: "image/png" }));
            return transfer;
        }""",
        [list(path.read_bytes()), path.name],
    )
    page.dispatch_event(selector, "dragenter", {"dataTransfer": transfer})
    page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


@needs_browser
@pytest.mark.parametrize(
    "kind, size, how",
    [("sr", (40, 56), "drop"), ("colorize", (40, 56), "pick"), ("sr", (300, 270), "drop")],
    ids=["sr-drop", "colorize-pick", "sr-large-tiled"],
)
def test_photo_drop_shows_before_after_and_downloads(browser, served, tmp_path: Path, kind, size, how) -> None:
    model = export_tiny_sr(tmp_path) if kind == "sr" else export_tiny_unet(tmp_path, recipe="colorize", color="lab")
    rng = np.random.default_rng(0)
    photo = cv2.GaussianBlur(rng.integers(0, 256, (*size, 3), dtype=np.uint8), (5, 5), 0)
    photo_path = tmp_path / "photo.png"
    cv2.imwrite(str(photo_path), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    page, errors = open_page(browser, served(model))
    assert page.is_visible("#drop") and not page.is_visible("#pad")  # a photo model opens the drop zone
    if how == "drop":
        drop_file(page, "#drop", photo_path)
    else:
        page.set_input_files("#file", str(photo_path))
    page.wait_for_selector("#download[data-ready='true']", timeout=60_000)
    page.screenshot(path=str(tmp_path / f"{kind}.png"))
    runtime = Model(model)
    if max(size) > runtime.tile_threshold:  # the large photo runs in tiles, in the page as in Python
        assert "tile" in page.evaluate("window.img2img.tileLog.join(' ')")
    expected = runtime(photo)
    scale = 2 if kind == "sr" else 1
    after = canvas_pixels(page, "#after")
    assert after.shape == expected.shape == (size[0] * scale, size[1] * scale, 3)
    assert np.abs(after.astype(int) - expected.astype(int)).max() <= 1
    before = canvas_pixels(page, "#before")
    assert before.shape == after.shape  # the input at the output's size, under the slider
    page.locator("#slider").fill("20")
    assert "inset(0px 80%" in page.eval_on_selector("#before", "c => c.style.clipPath")
    with page.expect_download() as download:
        page.click("#download")
    saved = tmp_path / "download.png"
    download.value.save_as(saved)
    assert download.value.suggested_filename == "photo_img2img.png"
    downloaded = cv2.cvtColor(cv2.imread(str(saved)), cv2.COLOR_BGR2RGB)
    assert np.array_equal(downloaded, after)
    assert errors == []


@needs_browser
def test_self_ensemble_on_the_page_matches_the_python_runtime(browser, served, tmp_path: Path) -> None:
    model = export_tiny_sr(tmp_path)
    rng = np.random.default_rng(1)
    photo = cv2.GaussianBlur(rng.integers(0, 256, (36, 52, 3), dtype=np.uint8), (5, 5), 0)
    photo_path = tmp_path / "photo.png"
    cv2.imwrite(str(photo_path), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    url = served(model, "--self-ensemble", "4")
    page, errors = open_page(browser, url)
    assert page.input_value("#views") == "4"  # the command's --self-ensemble is the page's start
    # the views and their inverses, exactly: a function that is not flip-invariant, JS against numpy
    batch = rng.standard_normal((2, 3, 5, 7)).astype(np.float32)
    for views in (2, 4, 8):
        got = page.evaluate(
            """async ([flat, views]) => {
                const m = await import("./processing.js");
                const run = async (data, dims) => {
                    const [n, c, h, w] = dims, out = new Float32Array(data.length);
                    for (let i = 0; i < data.length; i++) { const p = i % (h * w); out[i] = data[i] * (Math.floor(p / w) * 7 + (p % w) + 1) + p; }
                    return { data: out, dims };
                };
                const r = await m.selfEnsembled(run, views)(Float32Array.from(flat), [2, 3, 5, 7]);
                return { data: Array.from(r.data), dims: r.dims };
            }""",
            [batch.ravel().tolist(), views],
        )

        def position_dependent(b: np.ndarray) -> np.ndarray:
            h, w = b.shape[2:]
            index = np.arange(h * w, dtype=np.float32).reshape(h, w)
            return b * ((index // w) * 7 + index % w + 1) + index

        from img2img_runtime.processing import self_ensembled

        expected = self_ensembled(position_dependent, views)(batch)
        assert got["dims"] == [2, 3, 5, 7]
        np.testing.assert_allclose(np.array(got["data"]).reshape(batch.shape), expected, rtol=1e-5, atol=1e-4)
        assert not np.allclose(expected, position_dependent(batch))  # the views do change the answer
    # a dropped photo with 4 views, then 8 from the menu (the photo runs again), then ?views=1
    drop_file(page, "#drop", photo_path)
    page.wait_for_selector("#download[data-ready='true']", timeout=60_000)
    assert "4 views" in page.text_content("#status")
    four = canvas_pixels(page, "#after")
    np.testing.assert_allclose(four, Model(model, self_ensemble=4)(photo), atol=1)
    page.select_option("#views", "8")
    page.wait_for_function("document.body.dataset.runs >= '2'", timeout=60_000)
    page.wait_for_function("document.querySelector('#status').dataset.state === 'done'")
    eight = canvas_pixels(page, "#after")
    np.testing.assert_allclose(eight, Model(model, self_ensemble=8)(photo), atol=1)
    one = Model(model)(photo)
    assert np.abs(eight.astype(int) - one.astype(int)).max() > 1  # not the one-view picture
    page.close()
    page, more_errors = open_page(browser, url + "?views=1")
    assert page.input_value("#views") == "1"
    page.close()
    page, wrong_errors = open_page(browser, url + "?views=3")  # a mistyped number: one view, and a message
    assert page.input_value("#views") == "1" and "not 3" in page.text_content("#status")
    more_errors += wrong_errors
    assert errors == [] and more_errors == []


def test_server_serves_only_the_page_and_the_model(served, tmp_path: Path) -> None:
    model = export_tiny_sr(tmp_path)
    (tmp_path / "secret.txt").write_text("not for the browser")
    url = served(model)
    with urllib.request.urlopen(url) as response:
        assert response.headers["Cross-Origin-Embedder-Policy"] == "require-corp"
        assert b"img2img" in response.read()
    with urllib.request.urlopen(url + "model.json") as response:
        info = json.loads(response.read())
    assert info["name"] == "sr" and info["config"]["scale"] == 2 and info["bytes"] == model.stat().st_size
    with urllib.request.urlopen(url + "model.onnx") as response:
        assert response.read() == model.read_bytes()
    with urllib.request.urlopen(url + "ort/ort-wasm-simd-threaded.wasm") as response:
        assert response.headers["Content-Type"] == "application/wasm"
    for path in ("secret.txt", "../secret.txt", "ort/", "sr.onnx", "%2e%2e/secret.txt", "web.py"):
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(url + path)
        assert error.value.code == 404, path
    assert web.serve(model, port=0, background=True).server_address[0] == "127.0.0.1"


def test_static_site_holds_the_page_and_the_model(tmp_path: Path) -> None:
    model = export_tiny_sr(tmp_path)
    site = web.write_site(model, tmp_path / "site")
    names = sorted(p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file())
    assert names == sorted(
        ["index.html", "app.js", "processing.js", "style.css", "model.onnx", "model.json"]
        + [f"ort/{n}" for n in web.ORT_FILES]
    )
    assert json.loads((site / "model.json").read_text())["config"]["scale"] == 2
    assert json.loads((site / "model.json").read_text())["self_ensemble"] == 1
    web.write_site(model, tmp_path / "site8", self_ensemble=8)
    assert json.loads((tmp_path / "site8" / "model.json").read_text())["self_ensemble"] == 8
    with pytest.raises(ValueError, match="not 3"):
        web.write_site(model, tmp_path / "site3", self_ensemble=3)
    # rebuilt from the model it holds (img2img web --model site/model.onnx --static site)
    before = (site / "model.onnx").read_bytes()
    web.write_site(site / "model.onnx", site, self_ensemble=4)
    assert (site / "model.onnx").read_bytes() == before == model.read_bytes()
    assert json.loads((site / "model.json").read_text())["self_ensemble"] == 4


def test_models_the_page_cannot_run_are_refused_clearly(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    plain = tmp_path / "plain.onnx"
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 4, 4])],
    )
    onnx.save(helper.make_model(graph), plain)
    with pytest.raises(web.WebModelError, match="no img2img metadata"):
        web.model_info(plain)
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(web.WebModelError, match="junk.onnx"):
        web.model_info(tmp_path / "junk.onnx")
    with pytest.raises(FileNotFoundError):
        web.model_info(tmp_path / "missing.onnx")


def test_web_command_writes_a_static_site(tmp_path: Path, capsys) -> None:
    from img2img.cli import main

    model = export_tiny_sr(tmp_path)
    assert main(["web", "--model", str(model), "--static", str(tmp_path / "site")]) == 0
    assert (tmp_path / "site" / "index.html").is_file() and "Cross-Origin" in capsys.readouterr().out
    assert main(["web", "--model", str(tmp_path / "missing.onnx"), "--static", str(tmp_path / "x")]) == 2
    assert main(["web", "--model", str(model), "--static", str(tmp_path / "s2"), "--self-ensemble", "2"]) == 0
    assert json.loads((tmp_path / "s2" / "model.json").read_text())["self_ensemble"] == 2
    with pytest.raises(SystemExit) as error:
        main(["web", "--model", str(model), "--static", str(tmp_path / "s3"), "--self-ensemble", "3"])
    assert error.value.code == 2


def test_tiles_advance_for_tiny_training_crops_and_metadata_without_overlap(tmp_path: Path) -> None:
    """A net trained on 16 px crops was given a 16 px overlap for 16 px tiles: the Python runtime
    refused to load it and the page looped for ever. The overlap is now below the tile in both, the
    validator refuses an overlap that does not advance, and the page fills in a missing overlap as
    the Python loader does (it tiled with NaN steps: black bands); the page's luma is OpenCV's."""
    from img2img_runtime.metadata import MetadataError, validate_metadata
    from img2img_runtime.processing import ModelSpec, suggested_tile

    for size in (8, 12, 16, 20, 64):
        spec = ModelSpec(in_channels=3, out_channels=3, scale=1, size_multiple=4, min_size=8, train_size=size)
        tile, overlap = suggested_tile(spec)
        assert 0 <= overlap < tile, (size, tile, overlap)
    config = web.model_info(export_tiny_sr(tmp_path))["config"]
    with pytest.raises(MetadataError, match="tile.overlap"):
        validate_metadata({**config, "tile": {"size": 16, "overlap": 16}})
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed")
    script = tmp_path / "check.mjs"
    script.write_text(
        f"""
import {{ specFromConfig, suggestedTile, fromRGBA, runTiled }} from {json.dumps((Path(web.__file__).parent / "web" / "processing.js").as_uri())};
const spec = specFromConfig({{input: {{channels: 3}}, output: {{channels: 3}}, size_multiple: 4, min_size: 8,
                              tile: {{size: 40}}, training: {{size: 16}}}});
const tiny = specFromConfig({{input: {{channels: 3}}, output: {{channels: 3}}, size_multiple: 4, min_size: 8,
                              training: {{size: 16}}}});
let refused = false;
try {{ await runTiled(async (x) => x, {{c: 3, h: 90, w: 90, data: new Float32Array(3 * 90 * 90)}}, tiny, 16, 16); }}
catch (e) {{ refused = /overlap/.test(e.message); }}
const rgba = new Uint8ClampedArray([200, 101, 37, 255, 3, 250, 129, 255]);
console.log(JSON.stringify({{tile: spec.tile, tiny: suggestedTile(tiny), refused,
                             gray: Array.from(fromRGBA(rgba, 2, 1, 1).data)}}));
"""
    )
    result = json.loads(subprocess.run([node, str(script)], capture_output=True, text=True, check=True).stdout)
    colours = np.array([[[200, 101, 37], [3, 250, 129]]], np.uint8)
    assert result["tile"] == [40, 16] and result["tiny"][1] < result["tiny"][0] and result["refused"]
    assert result["gray"] == cv2.cvtColor(colours, cv2.COLOR_RGB2GRAY)[0].tolist()


def test_the_page_refuses_outputs_and_colour_resolutions_it_cannot_draw(tmp_path: Path) -> None:
    import onnx

    from img2img_runtime.metadata import flat_metadata

    model = export_tiny_sr(tmp_path)
    graph = onnx.load(str(model))
    entry = next(e for e in graph.metadata_props if e.key == "img2img.config")
    config = json.loads(entry.value)
    for change, words in (
        ({"output": {**config["output"], "channels": 4}}, "4-channel"),
        ({"color": {"space": "lab", "ab_scale": 110.0, "resolution": 64}, "input": {**config["input"], "channels": 1},
          "output": {**config["output"], "channels": 2}}, "color.resolution"),
    ):  # fmt: skip
        changed = {**config, **change}
        entry.value = json.dumps(changed)
        for key, value in flat_metadata(changed).items():  # the flat keys agree (a contradiction is refused)
            next(e for e in graph.metadata_props if e.key == f"img2img.{key}").value = value
        onnx.save(graph, str(tmp_path / "changed.onnx"))
        with pytest.raises(web.WebModelError, match=words):
            web.model_info(tmp_path / "changed.onnx")


@needs_browser
@pytest.mark.parametrize("name", ["sr-x4", "restore"])
def test_a_shipped_model_runs_on_the_page_by_name(browser, served, tmp_path: Path, name: str) -> None:
    rng = np.random.default_rng(1)
    photo = cv2.GaussianBlur(rng.integers(0, 256, (40, 56, 3), dtype=np.uint8), (5, 5), 0)
    photo_path = tmp_path / "photo.png"
    cv2.imwrite(str(photo_path), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    page, errors = open_page(browser, served(name))  # img2img web --model NAME
    assert page.is_visible("#drop")
    drop_file(page, "#drop", photo_path)
    page.wait_for_selector("#download[data-ready='true']", timeout=60_000)
    expected = Model(name)(photo)
    after = canvas_pixels(page, "#after")
    assert after.shape == expected.shape
    difference = np.abs(after.astype(int) - expected.astype(int))
    # onnxruntime-web's int8 kernels vs the native ones: an activation that rounds to the next int8 step
    # moves a few output pixels by some levels (restore: 4 % by more than 2); the picture is the same
    psnr = 10 * np.log10(255**2 / max(np.mean(difference.astype(float) ** 2), 1e-10))
    assert difference.mean() < 0.5 and psnr > 40, (difference.mean(), psnr)
    assert errors == []
