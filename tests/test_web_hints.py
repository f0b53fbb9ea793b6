"""Colour hints on the browser page (``img2img web`` with a hint model).

The page runs the model in the browser (the server only serves files), so the hints go from the
page's colour brush straight into the model there: the strokes are an RGBA image of the input's
size, and ``processing.js`` turns them into the hint channels as :mod:`img2img_runtime.hints` does.
These tests check what the server says about a model (``model.json``'s ``takes_hints``), that
``processing.js`` makes the same hint channels as Python and refuses hints a model cannot take
(run in Node.js), and, in headless Chromium (the skip conditions of ``test_web.py``), that a red
stroke drawn on the input makes the output red there, as ``Model(path)(image, hints=strokes)`` does.

The hint model is a tiny colorize pix2pix trained for 60 steps on four of the shipped sample
photos (downsized), once per module.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
import test_web
from test_web import canvas_pixels, drop_file, export_tiny_unet, needs_browser, open_page

from img2img_runtime import Model, web
from img2img_runtime.hints import hint_planes

browser, served = test_web.browser, test_web.served  # its fixtures: Chromium, and `img2img web` in a subprocess

SAMPLES = Path(__file__).resolve().parents[1] / "img2img" / "assets" / "samples"
PROCESSING_JS = Path(web.__file__).parent / "web" / "processing.js"
RED = (255, 0, 0)


def sample(name: str, width: int, height: int) -> np.ndarray:
    """A shipped sample photo, RGB, downsized to ``width`` x ``height``."""
    image = cv2.imread(str(SAMPLES / name), cv2.IMREAD_COLOR)
    return cv2.cvtColor(cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def hint_model(tmp_path_factory) -> Path:
    """A colorize model trained with ``--hints`` for 60 steps, exported: it follows a strong stroke."""
    from conftest import TINY_CLI

    from img2img.cli import main

    root = tmp_path_factory.mktemp("hint_model")
    photos = root / "photos"
    photos.mkdir()
    for name in ("astronaut.jpg", "chelsea.jpg", "coffee.jpg", "flower.jpg"):
        cv2.imwrite(str(photos / name.replace(".jpg", ".png")), cv2.cvtColor(sample(name, 64, 64), cv2.COLOR_RGB2BGR))
    args = ["train", "pix2pix", "--data", str(photos), "--task", "colorize", "--hints", "--out", str(root / "run")]
    assert main([*args, "--steps", "60", *TINY_CLI]) == 0
    assert main(["export", str(root / "run"), str(root / "hints.onnx")]) == 0
    return root / "hints.onnx"


@pytest.fixture(scope="module")
def plain_model(tmp_path_factory) -> Path:
    """A colorize model without hints (untrained)."""
    return export_tiny_unet(tmp_path_factory.mktemp("plain_model"), recipe="colorize", color="lab")


def redness(image: np.ndarray, mask: np.ndarray) -> float:
    """Mean of R - (G + B) / 2 over ``mask``."""
    pixels = image[mask].astype(float)
    return float((pixels[:, 0] - (pixels[:, 1] + pixels[:, 2]) / 2).mean())


# ---------------------------------------------------------------- the server: what it says about the model


def test_model_json_says_whether_the_model_takes_hints(served, hint_model: Path, plain_model: Path) -> None:
    for model, takes in ((hint_model, True), (plain_model, False)):
        with urllib.request.urlopen(served(model) + "model.json") as response:
            info = json.loads(response.read())
        assert info["takes_hints"] is takes, model
        assert info["takes_hints"] == Model(model).takes_hints
    # a hint model's input has the hint channels after the image's: 1 + 3 for Lab, 3 + 4 for RGB
    info = web.model_info(hint_model)
    assert info["config"]["hints"] == {"space": "ab", "channels": 3} and info["config"]["input"]["channels"] == 4


def test_an_rgb_hint_model_is_accepted_and_bad_image_channels_still_refused(tmp_path: Path) -> None:
    import onnx

    from img2img_runtime.metadata import flat_metadata

    model = export_tiny_unet(tmp_path)  # a 3 -> 3 sketch model; only its metadata change here
    graph = onnx.load(str(model))
    entry = next(e for e in graph.metadata_props if e.key == "img2img.config")
    config = json.loads(entry.value)
    for channels, accepted in ((7, True), (6, False)):  # 3 + 4 hint channels; 2 + 4 is no image the page feeds
        changed = {
            **config,
            "input": {**config["input"], "channels": channels},
            "hints": {"space": "rgb", "channels": 4},
        }
        entry.value = json.dumps(changed)
        for key, value in flat_metadata(changed).items():
            found = [e for e in graph.metadata_props if e.key == f"img2img.{key}"]
            if found:
                found[0].value = value
            else:
                graph.metadata_props.add(key=f"img2img.{key}", value=value)
        onnx.save(graph, str(tmp_path / "changed.onnx"))
        if accepted:
            assert web.model_info(tmp_path / "changed.onnx")["takes_hints"] is True
        else:
            with pytest.raises(web.WebModelError, match="2-channel images"):
                web.model_info(tmp_path / "changed.onnx")


# ---------------------------------------------------------------- processing.js: hint channels as in Python


def run_node(tmp_path: Path, body: str) -> dict:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed")
    script = tmp_path / "check.mjs"
    script.write_text(f"import * as m from {json.dumps(PROCESSING_JS.as_uri())};\n{body}")
    return json.loads(subprocess.run([node, str(script)], capture_output=True, text=True, check=True).stdout)


def test_page_hint_channels_match_the_runtime_and_bad_hints_are_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    strokes = rng.integers(0, 256, (5, 7, 4), dtype=np.uint8)
    strokes[0, :3, 3] = (127, 128, 255)  # either side of the alpha threshold
    strokes[1, :2] = strokes[1, 2]  # one colour twice (the page encodes each colour once)
    result = run_node(
        tmp_path,
        f"""
const strokes = {{ width: 7, height: 5, data: Uint8ClampedArray.from({json.dumps(strokes.ravel().tolist())}) }};
const ab = m.specFromConfig({{ input: {{ channels: 4 }}, output: {{ channels: 2 }}, color: {{ space: "lab", ab_scale: 110.0 }},
                              hints: {{ space: "ab", channels: 3 }} }});
const rgb = m.specFromConfig({{ input: {{ channels: 7 }}, output: {{ channels: 3 }}, hints: {{ space: "rgb", channels: 4 }} }});
const plain = m.specFromConfig({{ input: {{ channels: 1 }}, output: {{ channels: 2 }}, color: {{ space: "lab" }} }});
const image = {{ width: 7, height: 5, channels: 3, data: new Uint8ClampedArray(7 * 5 * 3).fill(90) }};
const refused = (f) => {{ try {{ f(); return null; }} catch (e) {{ return `${{e.name}}: ${{e.message}}`; }} }};
const input = m.prepare(image, rgb, strokes).input;
console.log(JSON.stringify({{
  ab: Array.from(m.hintPlanes(strokes, 5, 7, ab)), rgb: Array.from(m.hintPlanes(strokes, 5, 7, rgb)),
  none: Array.from(m.hintPlanes(null, 5, 7, ab)), imageChannels: [m.imageChannels(ab), m.imageChannels(rgb)],
  prepared: {{ c: input.c, hints: Array.from(input.data.subarray(3 * 35)) }},
  plain: refused(() => m.prepare(image, plain, strokes)), plainWithout: refused(() => m.prepare(image, plain, null)),
  size: refused(() => m.prepare({{ ...image, width: 5, height: 7 }}, ab, strokes)),
  short: refused(() => m.hintPlanes({{ width: 7, height: 5, data: new Uint8ClampedArray(7 * 5 * 3) }}, 5, 7, ab)),
}}));
""",
    )
    for space, channels in (("ab", 3), ("rgb", 4)):
        expected = hint_planes(strokes, 5, 7, space)
        got = np.array(result[space], np.float32).reshape(channels, 5, 7)
        np.testing.assert_array_equal(got[-1], expected[-1])  # the mask: alpha >= 128, exactly
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
        assert got[-1, 0, :3].tolist() == [0, 1, 1]
    np.testing.assert_array_equal(
        np.array(result["prepared"]["hints"]).reshape(4, 5, 7), hint_planes(strokes, 5, 7, "rgb")
    )
    assert result["prepared"]["c"] == 7 and result["imageChannels"] == [3, 3]
    assert not any(result["none"])
    assert result["plain"].startswith("HintError: this model takes no colour hints (it was trained without --hints)")
    assert result["plainWithout"] is None
    assert "HintError: hint strokes are 7 x 5 but the image is 5 x 7" in result["size"]
    assert "HintError: hint strokes must be RGBA" in result["short"]


# ---------------------------------------------------------------- the page in headless Chromium


def wait_idle(page) -> None:
    """Until every result the page was asked for is drawn (debounced runs included)."""
    page.wait_for_function("window.img2img.idle()", timeout=60_000)
    state = page.eval_on_selector("#status", "s => s.dataset.state")
    assert state == "done", page.text_content("#status")


def layer_strokes(page, which: str) -> np.ndarray:
    """The page's hint layer ``which`` (``photo`` or ``pad``) as an RGBA H x W x 4 array."""
    got = page.evaluate(
        "(which) => { const l = window.img2img.hints[which]; return [l.height, l.width, Array.from(l.image.data)]; }",
        which,
    )
    return np.array(got[2], np.uint8).reshape(got[0], got[1], 4)


def stroke(page, selector: str, start: tuple[float, float], end: tuple[float, float], steps: int = 10) -> None:
    """A mouse stroke on ``selector`` between two points given as fractions of its box."""
    box = page.locator(selector).bounding_box()
    at = lambda f: (box["x"] + f[0] * box["width"], box["y"] + f[1] * box["height"])  # noqa: E731
    page.mouse.move(*at(start))
    page.mouse.down()
    page.mouse.move(*at(end), steps=steps)
    page.mouse.up()


@needs_browser
def test_a_red_stroke_on_the_photo_makes_the_output_red_there(
    browser, served, hint_model: Path, tmp_path: Path
) -> None:
    photo = sample("chelsea.jpg", 72, 56)  # above twice the 32 px tile: the page tiles it, hints and all
    photo_path = tmp_path / "cat.png"
    cv2.imwrite(str(photo_path), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    page, errors = open_page(browser, served(hint_model))
    assert page.is_visible("#hint-bar") and page.is_visible("#drop")
    assert "takes colour hints" in page.text_content("#model-info")
    drop_file(page, "#drop", photo_path)
    page.wait_for_selector("#download[data-ready='true']", timeout=60_000)
    wait_idle(page)
    assert page.is_visible("#hint-input")
    model = Model(hint_model)
    plain = canvas_pixels(page, "#after")
    assert np.abs(plain.astype(int) - model(photo).astype(int)).max() <= 1  # no hints yet: the automatic colours
    # pick pure red, a wide brush, and draw across the cat's middle
    page.locator("#hint-color").fill("#ff0000")
    page.locator("#hint-size").fill("24")
    stroke(page, "#hint-input", (0.2, 0.5), (0.8, 0.55))
    wait_idle(page)
    assert "colour hints" in page.text_content("#status")
    page.screenshot(path=str(tmp_path / "hints.png"))
    strokes = layer_strokes(page, "photo")
    mask = strokes[:, :, 3] >= 128
    assert strokes.shape == (56, 72, 4) and mask.sum() > 100
    assert (strokes[mask][:, :3] == RED).all() and (strokes[~mask] == 0).all()  # the picked colour, exactly
    hinted = canvas_pixels(page, "#after")
    # the page gives the Python runtime's pixels for the same strokes (so the hints reach the model)...
    expected = model(photo, hints=strokes)
    assert np.abs(hinted.astype(int) - expected.astype(int)).max() <= 1
    # ... and the output moved toward red under the stroke
    change = np.abs(hinted.astype(int) - plain.astype(int)).sum(axis=2)
    assert change[mask].mean() > 20, change[mask].mean()
    assert redness(hinted, mask) > redness(plain, mask) + 30, (redness(plain, mask), redness(hinted, mask))
    # undo takes the stroke back, and the automatic colours return
    page.click("#hint-undo")
    wait_idle(page)
    assert not layer_strokes(page, "photo")[:, :, 3].any()
    assert np.abs(canvas_pixels(page, "#after").astype(int) - plain.astype(int)).max() <= 1
    assert errors == []


@needs_browser
def test_the_pad_takes_colour_hints_beside_the_pen(browser, served, hint_model: Path, tmp_path: Path) -> None:
    page, errors = open_page(browser, served(hint_model))
    page.click("#mode-draw")  # a photo model's pad: a hand-drawn picture to colour
    assert page.is_visible("#hint-brush") and page.is_visible("#pad-hints")
    stroke(page, "#pad", (0.2, 0.2), (0.8, 0.8))  # the pen: a black line
    wait_idle(page)
    page.locator("#hint-color").fill("#ff0000")  # picking a colour on the pad takes the hint brush
    assert page.get_attribute("#hint-brush", "aria-pressed") == "true"
    page.locator("#hint-size").fill("48")
    stroke(page, "#pad", (0.2, 0.6), (0.6, 0.6))
    wait_idle(page)
    drawing = canvas_pixels(page, "#pad")
    assert (drawing.max(axis=2) == drawing.min(axis=2)).all()  # the hint went to its layer, not the drawing
    strokes = layer_strokes(page, "pad")
    mask = strokes[:, :, 3] >= 128
    assert strokes.shape[:2] == drawing.shape[:2] and mask.sum() > 20
    result = canvas_pixels(page, "#draw-result")
    model = Model(hint_model)
    assert np.abs(result.astype(int) - model(drawing, hints=strokes).astype(int)).max() <= 1
    assert redness(result, mask) > redness(model(drawing), mask) + 30
    assert errors == []


@needs_browser
def test_a_model_without_hints_shows_no_hint_controls(browser, served, plain_model: Path, tmp_path: Path) -> None:
    photo_path = tmp_path / "cat.png"
    cv2.imwrite(str(photo_path), cv2.cvtColor(sample("chelsea.jpg", 40, 32), cv2.COLOR_RGB2BGR))
    page, errors = open_page(browser, served(plain_model))
    drop_file(page, "#drop", photo_path)
    page.wait_for_selector("#download[data-ready='true']", timeout=60_000)
    for selector in ("#hint-bar", "#hint-figure", "#hint-brush", "#pad-hints"):
        assert not page.is_visible(selector), selector
    page.click("#mode-draw")
    assert not page.is_visible("#hint-bar") and not page.is_visible("#hint-brush")
    # the page's processing refuses strokes for it, with the Python runtime's message
    message = page.evaluate(
        """async () => {
            const m = await import("./processing.js");
            const image = { width: 4, height: 4, channels: 3, data: new Uint8ClampedArray(48) };
            try { m.prepare(image, window.img2img.spec, { width: 4, height: 4, data: new Uint8ClampedArray(64) }); }
            catch (e) { return e.message; }
            return null;
        }"""
    )
    assert message and "takes no colour hints" in message
    assert errors == []
