"""Tiled inference: equivalence with untiled runs, no seams, exact blending weights, bounded memory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from img2img.checkpoint import save_pretrained
from img2img.export import export_onnx
from img2img.infer import Translator
from img2img.nets import create_model
from img2img_runtime import Model
from img2img_runtime.processing import ModelSpec, _tile_starts, run_images, run_tiled, tiling_policy

NUM_CONVS = 2
SCALE = 2
TILE, OVERLAP = 64, 16


def io_spec(net) -> dict:
    return {
        "input": {"channels": 3, "color_space": "rgb", "range": [-1.0, 1.0]},
        "output": {"channels": 3, "color_space": "rgb", "range": [-1.0, 1.0]},
        "scale": net.scale,
        "size_multiple": net.size_multiple,
        "min_size": getattr(net, "min_size", 1),
        "color": {"space": "rgb"},
    }


@pytest.fixture(scope="module")
def sr(tmp_path_factory) -> Path:
    """compact_sr_x2 (no normalisation layers, so tiles see no global statistics): model folder + ONNX."""
    root = tmp_path_factory.mktemp("tiling")
    torch.manual_seed(0)
    net = create_model("compact_sr_x2", base_channels=8, num_convs=NUM_CONVS).eval()
    save_pretrained({"AtoB": net}, root / "model", task="srgan", io_spec=io_spec(net))
    export_onnx(root / "model", root / "sr.onnx")
    return root


def smooth_image(height: int = 260, width: int = 300) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    channels = [np.sin(xx / 23 + 1) * np.cos(yy / 31), np.sin((xx + yy) / 37 + 2), np.cos(xx / 41 - yy / 19)]
    return np.rint(np.stack(channels, -1) * 100 + 128).astype(np.uint8)


def runners(root: Path):
    """(label, factory(tile, overlap)) for the torch Translator and the ONNX runtime Model."""
    return [
        (
            "torch",
            lambda tile, overlap: Translator.from_pretrained(
                root / "model", device="cpu", precision="fp32", tile=tile, overlap=overlap
            ),
        ),
        ("onnx", lambda tile, overlap: Model(root / "sr.onnx", tile=tile, overlap=overlap)),
    ]


def tile_edges(length: int, overlap: int = OVERLAP) -> list[int]:
    """Input coordinates where a tile starts or ends inside the image (not at its borders)."""
    starts = _tile_starts(length, TILE, overlap)
    return sorted({e for s in starts for e in (s, s + TILE) if 0 < e < length})


def near_tile_edges(height: int, width: int, radius: int, overlap: int = OVERLAP) -> np.ndarray:
    """Output-pixel mask: within ``radius`` input pixels of some tile's edge (where a tile lacks context)."""
    mask = np.zeros((height * SCALE, width * SCALE), bool)
    for axis, length in ((0, height), (1, width)):
        for e in tile_edges(length, overlap):
            lo, hi = max(0, (e - radius) * SCALE), min(length, e + radius) * SCALE
            if axis == 0:
                mask[lo:hi] = True
            else:
                mask[:, lo:hi] = True
    return mask


def seam_jumps(tiled: np.ndarray, untiled: np.ndarray, edges: list[int], axis: int) -> tuple[int, int]:
    """Across the tile boundaries at ``edges`` (input coordinates) along ``axis``: (max over pixels of
    |jump in tiled| - |jump in untiled|, largest jump in tiled); jump = difference of adjacent rows/columns."""
    t, u = np.moveaxis(tiled.astype(int), axis, 0), np.moveaxis(untiled.astype(int), axis, 0)
    excess, largest = 0, 0
    for e in edges:
        r = e * SCALE
        jt, ju = np.abs(t[r] - t[r - 1]), np.abs(u[r] - u[r - 1])
        excess, largest = max(excess, int((jt - ju).max())), max(largest, int(jt.max()))
    return excess, largest


@pytest.mark.parametrize("label", ["torch", "onnx"])
def test_tiled_equals_untiled_away_from_tile_edges_and_has_no_seams(sr, label):
    make = dict(runners(sr))[label]
    image = smooth_image()
    h, w = image.shape[:2]
    untiled = make(None, None)(image).astype(int)
    tiled = make(TILE, OVERLAP)(image).astype(int)
    hard = make(TILE, 0)(image).astype(int)  # no overlap, no blending: the seams the blending must hide
    assert untiled.shape == tiled.shape == hard.shape == (h * SCALE, w * SCALE, 3)
    assert untiled.std() > 20  # structured output, not a flat image

    # Receptive field: NUM_CONVS 3x3 convs + the 3x3 conv before the pixel shuffle = NUM_CONVS + 1
    # input pixels on each side. Farther than that from every tile edge, each tile sees exactly
    # what the whole image sees, and normalised blending of equal values changes nothing
    # (only float rounding, so at most 1 grey level).
    radius = NUM_CONVS + 1
    lacking = near_tile_edges(h, w, radius)
    assert lacking.mean() < 0.5
    assert np.abs(tiled - untiled)[~lacking].max() <= 1
    assert np.abs(hard - untiled)[~near_tile_edges(h, w, radius, overlap=0)].max() <= 1

    # Within `radius` of an edge a tile's output is wrong (zero padding instead of neighbours); the
    # unblended error there is E = max |hard - untiled|. The blend ramps rise over OVERLAP * SCALE
    # output pixels as (k + 1) / (OVERLAP * SCALE + 1), so the wrong pixels carry at most
    # radius * SCALE / (OVERLAP * SCALE + 1) of the weight, the neighbour tile (right there) the rest.
    unblended = np.abs(hard - untiled).max()
    assert unblended >= 8, "the tile edges make no visible error: the test has no power"
    bound = unblended * radius * SCALE / (OVERLAP * SCALE + 1) + 1  # + 1: uint8 rounding
    assert np.abs(tiled - untiled).max() <= bound, (np.abs(tiled - untiled).max(), bound)
    assert np.abs(tiled - untiled).mean() < 0.1

    # No seams: across every tile boundary, the jump between adjacent rows (columns) exceeds the
    # untiled image's jump at the same place by no more than the blended error allows, and is no
    # larger than the untiled image's largest jump between adjacent rows (columns) anywhere.
    # Without blending (overlap 0) the same measure sees the seams clearly.
    for axis, length in ((0, h), (1, w)):
        edges = tile_edges(length)
        assert len(edges) >= 5
        excess, largest = seam_jumps(tiled, untiled, edges, axis)
        assert excess <= bound, (axis, excess, bound)
        assert largest <= np.abs(np.diff(untiled, axis=axis)).max(), axis
        hard_excess, _ = seam_jumps(hard, untiled, tile_edges(length, 0), axis)
        assert hard_excess > 2 * bound, f"the seam measure does not see unblended seams ({hard_excess})"


def test_torch_and_onnx_tiled_outputs_agree(sr):
    image = smooth_image(130, 150)
    (_, torch_make), (_, onnx_make) = runners(sr)
    a, b = torch_make(TILE, OVERLAP)(image), onnx_make(TILE, OVERLAP)(image)
    assert a.shape == b.shape == (260, 300, 3)
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


# ---------------------------------------------------------------------------------------------
# run_tiled with known functions
# ---------------------------------------------------------------------------------------------


class Recorder:
    """A run_batch that applies ``fn`` and records the batch shapes it was given."""

    def __init__(self, scale: int = 1) -> None:
        self.scale, self.shapes = scale, []

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        self.shapes.append(batch.shape)
        return np.repeat(np.repeat(batch, self.scale, axis=2), self.scale, axis=3)  # identity or nearest upsampling


CASES = [  # (height, width, tile, overlap, scale, size_multiple)
    (97, 131, 32, 8, 1, 1),
    (97, 131, 32, 0, 1, 1),  # no overlap: tiles just abut
    (97, 131, 32, 31, 1, 1),  # largest overlap: stride 1
    (33, 33, 32, 16, 1, 1),  # one pixel more than a tile
    (32, 32, 32, 8, 1, 1),  # exactly one tile
    (20, 70, 32, 8, 1, 1),  # shorter than a tile on one side
    (1, 50, 16, 4, 1, 1),  # one row
    (45, 61, 16, 5, 2, 1),  # x2, odd sizes
    (17, 40, 16, 15, 2, 1),
    (50, 77, 20, 6, 1, 8),  # tiles that need padding to the net's multiple
    (29, 31, 12, 3, 3, 4),
]


@pytest.mark.parametrize("height,width,tile,overlap,scale,multiple", CASES)
def test_run_tiled_with_identity_like_nets_reproduces_the_input(height, width, tile, overlap, scale, multiple):
    rng = np.random.default_rng(height * 1000 + width)
    x = rng.uniform(-1, 1, (3, height, width)).astype(np.float32)
    spec = ModelSpec(scale=scale, size_multiple=multiple)
    run = Recorder(scale)
    out = run_tiled(run, x, spec, tile=tile, overlap=overlap, batch_size=3)
    expected = np.repeat(np.repeat(x, scale, axis=1), scale, axis=2)
    assert out.shape == expected.shape
    # exact up to float32 accumulation (with overlap 31 of 32 a pixel sums ~1000 weighted tiles)
    np.testing.assert_allclose(out, expected, rtol=0, atol=2e-5)
    pad = lambda n: -(-min(tile, n) // multiple) * multiple  # noqa: E731
    n_tiles = len(_tile_starts(height, tile, overlap)) * len(_tile_starts(width, tile, overlap))
    assert sum(shape[0] for shape in run.shapes) == n_tiles
    for shape in run.shapes:  # bounded work per call: at most batch_size tiles of one tile's size
        assert shape[0] <= 3 and shape[2:] == (pad(height), pad(width))


@pytest.mark.parametrize("height,width,tile,overlap,scale,multiple", CASES)
def test_rows_finished_as_they_complete_equal_the_whole_blend(height, width, tile, overlap, scale, multiple):
    from img2img_runtime.processing import denormalize

    x = np.random.default_rng(height * 1000 + width).uniform(-1, 1, (3, height, width)).astype(np.float32)
    spec = ModelSpec(scale=scale, size_multiple=multiple)
    whole = denormalize(run_tiled(Recorder(scale), x, spec, tile=tile, overlap=overlap, batch_size=3))
    banded = run_tiled(Recorder(scale), x, spec, tile=tile, overlap=overlap, batch_size=3, finish_rows=denormalize)
    assert banded.dtype == np.uint8 and np.array_equal(banded, whole)


def test_an_upscaled_tiled_image_keeps_float_buffers_to_one_row_of_tiles():
    """The float accumulators held the whole output: 16 bytes per output pixel (x4 of a 12-megapixel
    photo: 3 GB). With rows finished as they complete, they hold one row of tiles."""
    import tracemalloc

    from img2img_runtime.processing import denormalize

    x = np.zeros((3, 1200, 400), np.float32)
    spec = ModelSpec(scale=4)
    peaks = {}
    for rows in (None, denormalize):
        tracemalloc.start()
        out = run_tiled(Recorder(4), x, spec, tile=128, overlap=16, finish_rows=rows)
        out = denormalize(out) if rows is None else out
        peaks[rows is None] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert out.shape == (4800, 1600, 3) and out.dtype == np.uint8
    whole, banded = peaks[True], peaks[False]
    assert whole > 4 * 3 * 4800 * 1600  # the float output alone: 92 MB
    assert banded < whole / 2, f"{banded / 1e6:.0f} MB with rows finished, {whole / 1e6:.0f} MB without"


def test_run_tiled_covers_every_pixel_with_weights_that_sum_to_one():
    """A net that returns a constant: every output pixel must get exactly that constant."""
    spec = ModelSpec(scale=2)
    out = run_tiled(
        lambda b: np.full((b.shape[0], 2, b.shape[2] * 2, b.shape[3] * 2), 0.25, np.float32),
        np.zeros((3, 53, 71), np.float32),
        spec,
        tile=24,
        overlap=7,
    )
    assert out.shape == (2, 106, 142)
    np.testing.assert_allclose(out, 0.25, rtol=0, atol=1e-7)


@pytest.mark.parametrize("overlap", [-1, 32, 40])
def test_invalid_overlap_raises(overlap):
    with pytest.raises(ValueError, match="overlap"):
        run_tiled(Recorder(), np.zeros((3, 70, 70), np.float32), ModelSpec(), tile=32, overlap=overlap)
    # through the public pipeline too
    with pytest.raises(ValueError, match="overlap"):
        run_images(Recorder(), [np.zeros((70, 70, 3), np.uint8)], ModelSpec(), tile=32, overlap=overlap)


@pytest.mark.parametrize(("tile", "overlap"), [(64, 64), (None, 8), (0, None), (32, -1)])
def test_a_translator_refuses_bad_tiling_when_made_not_image_by_image(sr, tile, overlap):
    """Like img2img_runtime.Model: the torch Translator (`img2img translate --model RUN`) accepted
    them and failed every image of a folder job."""
    with pytest.raises(ValueError, match="tile|overlap"):
        Translator.from_pretrained(sr / "model", device="cpu", tile=tile, overlap=overlap)
    with pytest.raises(ValueError, match="tile|overlap"):
        Model(sr / "sr.onnx", tile=tile, overlap=overlap)


@pytest.mark.parametrize("tile", [0, -5, "big", 1.5])
def test_invalid_tile_raises(tile):
    with pytest.raises(ValueError, match="tile"):
        tiling_policy(tile, None, (512, 64))


def test_tiling_policy_and_thresholds():
    assert tiling_policy("auto", None, (512, 64)) == (512, 64, 1024)
    assert tiling_policy("auto", 10, (512, 64)) == (512, 10, 1024)
    assert tiling_policy(None, None, (512, 64)) == (None, None, None)
    with pytest.raises(ValueError, match="only when tiling"):  # an overlap without tiles was ignored
        tiling_policy(None, 10, (512, 64))
    assert tiling_policy(100, None, (512, 64)) == (100, None, 100)
    assert tiling_policy("auto", None, (512, 64), image_statistics=True) == (None, None, None)
    with pytest.raises(ValueError, match="does not tile this model"):  # the overlap was ignored silently
        tiling_policy("auto", 10, (512, 64), image_statistics=True)
    assert tiling_policy(256, 10, (512, 64), image_statistics=True) == (256, 10, 256)  # the caller asked
    run = Recorder()
    image = np.random.default_rng(0).integers(0, 256, (90, 40, 3), dtype=np.uint8)
    out = run_images(run, [image], ModelSpec(), tile=32, overlap=None, tile_threshold=100)  # 90 <= 100: one run
    assert run.shapes == [(1, 3, 90, 40)] and np.array_equal(out[0], image)
    out = run_images(run, [image], ModelSpec(), tile=32, overlap=None)  # tiled, default overlap tile // 8
    assert all(shape[2:] == (32, 32) for shape in run.shapes[1:]) and np.array_equal(out[0], image)


# ---------------------------------------------------------------------------------------------
# memory on a large image
# ---------------------------------------------------------------------------------------------

# Linux: a child process inherits its parent's resident size at fork as its ru_maxrss floor, and
# the pytest process (torch loaded) is large. So the measuring process is started from a small
# launcher process, and VmHWM (per address space) is read as well.
LAUNCH = "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))"
BIG = r"""
import json, resource, sys, time
import numpy as np
from img2img_runtime import Model

path, tile = sys.argv[1], sys.argv[2]
model = Model(path, tile=None if tile == "none" else int(tile), batch_size=4)
shapes = []
run = model.run_batch
def spy(batch):
    shapes.append(batch.shape)
    return run(batch)
model.run_batch = spy
x, y = np.linspace(0, 1, 3000, dtype=np.float32), np.linspace(0, 1, 2000, dtype=np.float32)
base = np.sin(7 * x)[None, :] * np.cos(5 * y)[:, None]
image = np.empty((2000, 3000, 3), np.uint8)
for c in range(3):
    image[:, :, c] = np.rint(base * (60 + 20 * c) + 128).astype(np.uint8)
del base
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
out = model(image)
seconds = time.perf_counter() - start
hwm = [int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM")]
print("RESULT " + json.dumps({"shape": list(out.shape), "dtype": str(out.dtype), "before_kb": before, "seconds": seconds,
                              "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "hwm_kb": hwm[0] if hwm else None,
                              "shapes": [list(s) for s in shapes]}))
"""


def run_big(path: Path, tile: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", LAUNCH, sys.executable, "-c", BIG, str(path), tile],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    line = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    return json.loads(line[0][len("RESULT ") :])


def test_large_image_in_bounded_memory(tmp_path):
    torch.manual_seed(0)
    net = create_model("unet_256", num_downs=8, base_channels=4).eval()
    assert net.size_multiple == 256
    save_pretrained({"AtoB": net}, tmp_path / "model", task="pix2pix", io_spec=io_spec(net))
    export_onnx(tmp_path / "model", tmp_path / "unet.onnx", check=False)

    tiled = run_big(tmp_path / "unet.onnx", "512")
    assert tiled["shape"] == [2000, 3000, 3] and tiled["dtype"] == "uint8"
    assert tiled["before_kb"] < 512 * 1024, "the measurement starts from an inflated resident size"
    assert tiled["peak_kb"] < 2 * 1024**2, f"peak RSS {tiled['peak_kb'] / 1024:.0f} MiB"
    if tiled["hwm_kb"] is not None:
        assert tiled["hwm_kb"] < 2 * 1024**2
    # the net only ever saw batches of at most 4 tiles of 512 x 512 (already multiples of 256)
    assert tiled["shapes"] and all(s[0] <= 4 and s[2:] == [512, 512] for s in tiled["shapes"])
    assert sum(s[0] for s in tiled["shapes"]) == len(_tile_starts(2000, 512, 64)) * len(_tile_starts(3000, 512, 64))
    # and tiling is what keeps it down: the whole image at once (2048 x 3072 padded) needs more
    untiled = run_big(tmp_path / "unet.onnx", "none")
    assert untiled["shapes"] == [[1, 3, 2048, 3072]]
    assert tiled["peak_kb"] < untiled["peak_kb"]
