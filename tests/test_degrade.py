"""Degradations: every step and preset is seeded, keeps size and dtype, and does damage."""

from __future__ import annotations

import pickle

import cv2
import numpy as np
import pytest

from img2img.data import degrade
from img2img.data.degrade import PRESETS, STEP_KINDS, Degrader, Step, bicubic_downscale, restore_degrader, sr_degrade
from img2img_runtime.metrics import psnr_uint8


def photo(seed: int, height: int = 96, width: int = 96) -> np.ndarray:
    """A smooth colour gradient with a few sharp shapes and a little texture."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32) / max(height, width)
    phases = rng.uniform(0, 6, 3)
    image = np.stack([np.sin(4 * xx + phases[0]), np.cos(3 * yy + phases[1]), np.sin(3 * (xx + yy) + phases[2])], -1)
    image = (image * 0.5 + 0.5) * 180 + 40 + rng.normal(0, 3, (height, width, 1))
    image = np.clip(image, 0, 255).astype(np.uint8)
    for _ in range(3):
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        x, y = int(rng.integers(8, width - 8)), int(rng.integers(8, height - 8))
        cv2.circle(image, (x, y), int(rng.integers(4, 14)), color, -1)
        cv2.rectangle(image, (x - 10, y - 6), (x + 12, y + 9), color[::-1], 2)
    return image


def rng(*seed: int) -> np.random.Generator:
    return np.random.default_rng(list(seed))


def check_seeded(make, image: np.ndarray, *, changes: bool = True, shape: tuple | None = None) -> None:
    """Same seed -> identical; some other seed -> different; size (default: kept) and dtype; damage done."""
    out = make(image, rng(0))
    assert out.dtype == np.uint8 and out.shape == (shape or image.shape)
    np.testing.assert_array_equal(out, make(image, rng(0)))
    assert any(not np.array_equal(out, make(image, rng(s))) for s in range(1, 5))
    if changes:
        assert not np.array_equal(out, image)


@pytest.mark.parametrize("name", list(STEP_KINDS))
def test_step_smoke(name):
    image = photo(1)
    check_seeded(Degrader([Step(name, p=1.0)]), image)
    before = image.copy()
    Step(name)(image, rng(3))
    np.testing.assert_array_equal(image, before)  # the input is never modified


@pytest.mark.parametrize("preset", PRESETS)
def test_preset_smoke(preset):
    degrader = restore_degrader(preset)
    image = photo(2, 80, 112)
    check_seeded(degrader, image, changes=False)
    assert any(not np.array_equal(degrader(image, rng(s)), image) for s in range(3))
    assert len(degrader.describe()) == len(degrader.steps)


def test_presets_get_stronger():
    images = [photo(i, 96, 96) for i in range(4)]
    mean_psnr = {
        preset: np.mean(
            [
                psnr_uint8(image, restore_degrader(preset)(image, rng(10, i, s)))
                for i, image in enumerate(images)
                for s in range(3)
            ]
        )
        for preset in PRESETS
    }
    assert mean_psnr["light"] > mean_psnr["medium"] + 2 > mean_psnr["heavy"] + 4, mean_psnr


def test_docstring_lists_presets():
    """The module docstring (copied into datasets/README.md) matches the code."""
    for preset in PRESETS:
        block = "\n".join(f"      {line}" for line in restore_degrader(preset).describe())
        assert f"    {preset}\n{block}\n" in degrade.__doc__, preset
    for name in STEP_KINDS:
        assert f"\n    {name} " in degrade.__doc__, name


def test_degrader_pickles():
    degrader = restore_degrader("medium")
    clone = pickle.loads(pickle.dumps(degrader))
    np.testing.assert_array_equal(degrader(photo(3), rng(4)), clone(photo(3), rng(4)))


def test_restore_degrader_overrides():
    base = [step.name for step in restore_degrader("light").steps]
    changed = restore_degrader(
        "light", jpeg=None, dust=1.0, creases={"p": 0.5, "count": (2, 3)}, film_grain=Step("film_grain", 0.25)
    )
    steps = {step.name: step for step in changed.steps}
    assert "jpeg" not in steps and "jpeg" in base
    assert steps["dust"].p == 1.0
    assert steps["creases"].p == 0.5 and steps["creases"].params["count"] == (2, 3)
    assert steps["film_grain"].p == 0.25
    order = list(STEP_KINDS)
    assert [order.index(s.name) for s in changed.steps] == sorted(order.index(s.name) for s in changed.steps)
    only = restore_degrader("heavy", **{name: None for name in STEP_KINDS if name != "fade"})
    assert [step.name for step in only.steps] == ["fade"]


@pytest.mark.parametrize(
    "make",
    [
        lambda: restore_degrader("ultra"),
        lambda: restore_degrader("medium", sharpen=0.5),
        lambda: restore_degrader("medium", jpeg="often"),
        lambda: Step("sharpen"),
        lambda: Step("jpeg", p=1.5),
        lambda: Step("jpeg", params={"quality": (90, 10)}),
        lambda: Step("jpeg", params={"quality": 50}),
        lambda: Step("jpeg", params={"qualty": (10, 50)}),
    ],
)
def test_bad_arguments_raise(make):
    with pytest.raises(ValueError):
        make()


@pytest.mark.parametrize(
    "image", [np.zeros((32, 32), np.uint8), np.zeros((32, 32, 3), np.float32), np.zeros((32, 32, 4), np.uint8)]
)
def test_degrader_rejects_non_rgb(image):
    with pytest.raises(ValueError, match="H x W x 3"):
        restore_degrader("light")(image, rng(0))


@pytest.mark.parametrize("realistic", [False, True])
@pytest.mark.parametrize("scale,size", [(2, (64, 96)), (3, (48, 75)), (4, (96, 64))])
def test_sr_degrade_sizes(realistic, scale, size):
    hr = photo(5, *size)
    lr = sr_degrade(hr, scale, rng(0), realistic=realistic)
    assert lr.shape == (size[0] // scale, size[1] // scale, 3) and lr.dtype == np.uint8


def test_sr_degrade_realistic_seeded():
    hr = photo(6, 96, 96)
    check_seeded(lambda image, g: sr_degrade(image, 4, g, realistic=True), hr, changes=False, shape=(24, 24, 3))
    assert psnr_uint8(sr_degrade(hr, 4, rng(0)), sr_degrade(hr, 4, rng(0), realistic=True)) < 40


def test_sr_degrade_bicubic():
    hr = photo(7, 64, 64)
    lr = sr_degrade(hr, 2, rng(0))
    np.testing.assert_array_equal(lr, sr_degrade(hr, 2, rng(1)))  # deterministic, ignores the rng
    np.testing.assert_array_equal(lr, bicubic_downscale(hr, 2))  # the one bicubic downscaling
    assert psnr_uint8(cv2.resize(hr, (32, 32), interpolation=cv2.INTER_AREA), lr) > 30
    flat = np.full((48, 64, 3), (200, 30, 120), np.uint8)
    np.testing.assert_array_equal(sr_degrade(flat, 4, rng(0)), flat[:12, :16])


def noise(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_bicubic_downscale_constant_and_shapes():
    constant = np.full((24, 36, 3), 173, np.uint8)
    out = bicubic_downscale(constant, 4)
    assert out.shape == (6, 9, 3) and out.dtype == np.uint8
    assert (out == 173).all()
    assert bicubic_downscale(noise(8, 12), 2).shape == (4, 6, 3)
    assert bicubic_downscale(constant[:, :, 0], 3).shape == (8, 12)
    with pytest.raises(ValueError, match="multiple"):
        bicubic_downscale(noise(10, 12), 4)


def test_bicubic_downscale_is_antialiased():
    import torch

    image = noise(64, 64)
    block_means = image.reshape(16, 4, 16, 4, 3).mean(axis=(1, 3))
    out = bicubic_downscale(image, 4)
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float()
    aliased = torch.nn.functional.interpolate(x, size=(16, 16), mode="bicubic", align_corners=False)
    aliased = aliased[0].permute(1, 2, 0).numpy()
    # Antialiased: close to the local average; plain bicubic samples the noise instead.
    assert np.abs(out - block_means).mean() < 10 < 30 < np.abs(aliased - block_means).mean()


@pytest.mark.parametrize("realistic", [False, True])
def test_sr_degrade_rejects_non_multiples(realistic):
    with pytest.raises(ValueError, match="50x64"):
        sr_degrade(photo(0, 50, 64), 4, rng(0), realistic=realistic)
    with pytest.raises(ValueError):
        sr_degrade(photo(0, 64, 64), 0, rng(0), realistic=realistic)


# ------------------------------------------------------------------------------------ alignment
#
# A degraded photo and its original must stay aligned: a pair whose input is shifted teaches the
# model to blur. The measurement is the peak of the band-passed cross-correlation (the cross-power
# spectrum, as in phase correlation) of the two lumas, located to 0.002 px by evaluating its
# inverse DFT on a fine grid around the whole-pixel peak. Two simpler tools are not good enough:
# cv2.phaseCorrelate's centroid locks to whole pixels (it reads a 0.1 px shift as 0.002 px), and
# pure phase normalisation is thrown off by blur kernels with a negative frequency response
# (motion and defocus blur) and by noise at high frequencies.

# Test images of 320 px: the presets are tuned for 256-512 px crops, and on smaller images the
# heavy damage covers so much of the picture that the measurement gets noisy.
ALIGN_SIZE = 320
ALIGN_TOLERANCE = 0.1  # px, in x and in y


def textured(seed: int, size: int = ALIGN_SIZE, zoom: int = 1) -> np.ndarray:
    """Random anti-aliased ellipses and triangles of every luma level on mid-gray, plus fine noise.

    ``zoom`` draws the same kind of picture ``zoom`` times larger (for exact sub-pixel shifts).
    """
    rng = np.random.default_rng(seed)
    image = np.full((size, size, 3), 128, np.float32)
    for _ in range(round(40 * (size / zoom / 192) ** 2)):
        level = rng.uniform(0, 255)
        color = np.clip(level + rng.uniform(-60, 60, 3), 0, 255).tolist()
        centre = rng.uniform(0, size, 2)
        radii = rng.uniform(3, 24, 2) * zoom
        if rng.random() < 0.5:
            cv2.ellipse(
                image,
                tuple(int(v) for v in centre * 16),
                tuple(int(v) for v in radii * 16),
                rng.uniform(0, 180),
                0,
                360,
                color,
                -1,
                cv2.LINE_AA,
                shift=4,
            )
        else:
            corners = (rng.uniform(-1, 1, (3, 2)) * radii.max() + centre) * 16
            cv2.fillPoly(image, [corners.astype(np.int32)], color, cv2.LINE_AA, shift=4)
    noise = rng.normal(0, 4, (size // zoom + 1, size // zoom + 1, 1)).astype(np.float32)
    image += cv2.resize(noise, (size, size), interpolation=cv2.INTER_NEAREST)[:size, :size, None]
    return np.clip(image, 0, 255).astype(np.uint8)


def luma(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return np.squeeze(image).astype(np.float64)


def _tukey(n: int, alpha: float = 0.3) -> np.ndarray:
    """Flat in the middle, cosine tapers over the outer ``alpha / 2`` at each end."""
    x = (np.arange(n) + 0.5) / n
    edge = alpha / 2
    ramp = 0.5 * (1 - np.cos(np.pi * np.minimum(x, 1 - x) / edge))
    return np.where(np.minimum(x, 1 - x) < edge, ramp, 1.0)


def picture_shift(
    reference: np.ndarray, image: np.ndarray, band: tuple[float, float] = (0.03, 0.2)
) -> tuple[float, float]:
    """``(dx, dy)``: how far (px) the picture in ``image`` lies right of / below ``reference``.

    Both are gray or RGB (compared by luma), the same size. Only frequencies in ``band``
    (cycles/px; by default the band that survives blur, noise and JPEG) count, both images are
    tapered at the borders, and the correlation peak is found to 0.002 px.
    """
    a, b = luma(reference), luma(image)
    h, w = a.shape
    window = np.outer(_tukey(h), _tukey(w))
    a = (a - (a * window).sum() / window.sum()) * window
    b = (b - (b * window).sum() / window.sum()) * window
    fy, fx = np.fft.fftfreq(h), np.fft.fftfreq(w)
    f2 = fy[:, None] ** 2 + fx[None, :] ** 2
    weight = np.exp(-f2 / (2 * band[1] ** 2)) * (1 - np.exp(-f2 / (2 * band[0] ** 2)))
    cross = np.conj(np.fft.fft2(a)) * np.fft.fft2(b) * weight
    peak = np.unravel_index(np.argmax(np.real(np.fft.ifft2(cross))), cross.shape)
    y0, x0 = ((p + n // 2) % n - n // 2 for p, n in zip(peak, (h, w)))  # whole pixels, signed
    for radius, step in ((1.0, 0.05), (0.06, 0.002)):  # then a fine grid around it
        ys = y0 + np.arange(-radius, radius + step / 2, step)
        xs = x0 + np.arange(-radius, radius + step / 2, step)
        surface = np.real(np.exp(2j * np.pi * ys[:, None] * fy) @ cross @ np.exp(2j * np.pi * fx[:, None] * xs))
        iy, ix = np.unravel_index(np.argmax(surface), surface.shape)
        y0, x0 = ys[iy], xs[ix]
    return float(x0), float(y0)


def assert_aligned(reference: np.ndarray, image: np.ndarray, what: str, **kwargs) -> None:
    dx, dy = picture_shift(reference, image, **kwargs)
    assert max(abs(dx), abs(dy)) <= ALIGN_TOLERANCE, f"{what}: the picture moved by ({dx:+.3f}, {dy:+.3f}) px"


def shifted_pair(seed: int, dx_eighths: int, dy_eighths: int) -> tuple[np.ndarray, np.ndarray]:
    """The same picture twice, the second moved by exactly (dx, dy) / 8 px (drawn 8x, box-averaged)."""
    big = textured(seed, ALIGN_SIZE * 8 + 32, zoom=8)

    def view(dx: int, dy: int) -> np.ndarray:
        crop = big[16 - dy : 16 - dy + ALIGN_SIZE * 8, 16 - dx : 16 - dx + ALIGN_SIZE * 8]
        return cv2.resize(crop, (ALIGN_SIZE, ALIGN_SIZE), interpolation=cv2.INTER_AREA)

    return view(0, 0), view(dx_eighths, dy_eighths)


def test_picture_shift_measures_sub_pixel_shifts():
    for seed, (dx, dy) in enumerate([(1, 0), (-1, 3), (-8, 4), (12, -1)]):  # in 1/8 px
        reference, moved = shifted_pair(seed, dx, dy)
        mx, my = picture_shift(reference, moved)
        assert abs(mx - dx / 8) <= 0.02 and abs(my - dy / 8) <= 0.02, ((dx / 8, dy / 8), (mx, my))
    assert max(map(abs, picture_shift(reference, reference))) < 1e-9


def test_picture_shift_sees_the_old_downscale_drift():
    """albumentations' Downscale (cv2.resize with fx = fy = scale, then back to the size): the test's
    own proof that a misaligned step fails it."""
    image = textured(0)
    for scale in (0.33, 0.42, 0.49):
        small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        back = cv2.resize(small, (ALIGN_SIZE, ALIGN_SIZE), interpolation=cv2.INTER_LINEAR)
        with pytest.raises(AssertionError, match="moved"):
            assert_aligned(image, back, f"old downscale {scale}")


def strong_params() -> dict[str, dict]:
    """Each step's heavy-preset ranges (the strongest the library uses), else its defaults."""
    return {step.name: dict(step.params) for step in restore_degrader("heavy").steps}


@pytest.mark.parametrize("name", list(STEP_KINDS))
def test_step_keeps_the_picture_in_place(name):
    """Every registered step, strong, several draws: blur, noise, resizing and painted damage alike."""
    step = Step(name, 1.0, strong_params().get(name, {}))
    image = textured(1)
    for seed in range(4):
        assert_aligned(image, step(image, rng(20, seed)), f"{name} (seed {seed})")


def flat_card_corrected(degrader, image: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(reference, picture)``: the luma of ``image`` and the picture's own part of
    ``degrader(image)`` (the generator seeded with ``seed``), both around 0.

    The heavy preset paints so much over a test-sized image (scratches, dust, creases, grain,
    noise) that the paint, not the picture, would decide the measurement. Every draw of a
    degradation is independent of the image content, so the same seed on flat gray cards paints
    the same damage: ``D(image) - D(gray)`` is the picture without it, and
    ``(D(light gray) - D(dark gray)) / 96`` the local gain (vignette, fading, the opacity of the
    paint), which is divided out again (where it is not ~0).
    """

    def run(x: np.ndarray) -> np.ndarray:
        return luma(degrader(x, rng(30, seed)))

    def card(level: int) -> np.ndarray:
        return np.full_like(image, level)

    gain = (run(card(176)) - run(card(80))) / 96
    picture = run(image) - run(card(128))
    return luma(image) - 128, picture * gain / (gain**2 + 0.01)


@pytest.mark.parametrize("preset", PRESETS)
def test_presets_keep_the_picture_in_place(preset):
    """Whole presets, damage and all, several draws each (the damage is factored out, see above)."""
    degrader = restore_degrader(preset)
    image = textured(2)
    for seed in range(6):
        assert_aligned(*flat_card_corrected(degrader, image, seed), f"{preset} (seed {seed})")
    reference, moved = shifted_pair(3, 3, -2)  # and a real shift shows through the damage

    def degrade_moved(x: np.ndarray, g: np.random.Generator) -> np.ndarray:
        return degrader(moved if x is reference else x, g)

    mx, my = picture_shift(*flat_card_corrected(degrade_moved, reference, 0))
    assert abs(mx - 3 / 8) <= 0.08 and abs(my + 2 / 8) <= 0.08, (mx, my)


@pytest.mark.parametrize("realistic", [False, True])
@pytest.mark.parametrize("scale", [2, 4])
def test_sr_degrade_keeps_the_picture_in_place(scale, realistic):
    """The low-resolution image, enlarged back with cv2.resize (bicubic), lies on the original.

    Compared below the low resolution's Nyquist limit (0.5 / scale cycles per original pixel):
    above it the enlarged image holds only interpolation and noise.
    """
    image = textured(4)
    band = (0.02, min(0.2, 0.5 / scale))
    for seed in range(4):
        low = sr_degrade(image, scale, rng(40, seed), realistic=realistic)
        back = cv2.resize(low, (ALIGN_SIZE, ALIGN_SIZE), interpolation=cv2.INTER_CUBIC)
        assert_aligned(image, back, f"sr x{scale} realistic={realistic} (seed {seed})", band=band)


@pytest.mark.parametrize("shape", [(8, 70000), (70000, 8)])
def test_jpeg_step_takes_photos_longer_than_jpeg_allows(shape):
    """libjpeg's sides stop at 65500 px: one such photo crashed a whole prepare or eval job."""
    from img2img.data.degrade import jpeg

    gradient = np.linspace(0, 255, max(shape), dtype=np.float32)
    image = np.repeat((gradient[None, :] if shape[0] < shape[1] else gradient[:, None])[..., None], 3, 2)
    image = np.ascontiguousarray(np.broadcast_to(image, (*shape, 3))).astype(np.uint8)
    out = jpeg(image, np.random.default_rng(0), quality=(90, 90))
    assert out.shape == image.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - image.astype(int)).mean() < 2


# ------------------------------------------------------------------------- varied damage


def gray(level: int = 128, size: int = 200) -> np.ndarray:
    return np.full((size, size, 3), level, np.uint8)


def one_scratch(**params) -> dict:
    base = {"count": (1, 1), "alpha": (1.0, 1.0), "vertical": 1.0, "color_prob": 0.0, "branch_prob": 0.0}
    return {**base, **params}


@pytest.mark.parametrize("width", [1, 2, 4, 6])
def test_scratches_cover_a_band_of_their_width(width):
    """A near-vertical scratch of width w changes a band about w px wide in each row it crosses."""
    widths = []
    for seed in range(6):
        out = Step("scratches", 1.0, one_scratch(width=(width, width)))(gray(), rng(50, seed))
        change = np.abs(out.astype(float) - 128).max(2)
        rows = change.max(1) > 0.5 * change.max()
        widths.append(np.median(change[rows].sum(1) / change.max()))  # equivalent width per row
    assert sum(width - 0.5 <= w <= width + 1.2 for w in widths) >= 4, widths


def test_scratch_tones():
    """Coloured scratches have chroma; bright and dark ones stay gray on a gray photo."""
    for color_prob, colored in ((1.0, True), (0.0, False)):
        for seed in range(4):
            out = Step("scratches", 1.0, one_scratch(width=(3, 3), color_prob=color_prob))(gray(), rng(51, seed))
            changed = np.abs(out.astype(int) - 128).max(2) > 30
            assert changed.any()
            chroma = np.ptp(out[changed].astype(int), axis=1)
            assert (np.median(chroma) > 30) if colored else (chroma.max() <= 2), (seed, np.median(chroma))


def test_scratches_branch():
    """With branch_prob 1 a near-vertical scratch forks: some row holds pixels far from the trunk."""

    def widest_row(branch_prob: float, seed: int) -> int:
        out = Step("scratches", 1.0, one_scratch(width=(2, 2), branch_prob=branch_prob))(gray(), rng(52, seed))
        changed = np.abs(out.astype(int) - 128).max(2) > 20
        return max(np.ptp(np.nonzero(row)[0]) + 1 for row in changed if row.any())

    assert max(widest_row(0.0, seed) for seed in range(6)) <= 8
    assert sum(widest_row(1.0, seed) > 12 for seed in range(6)) >= 3


def test_dust_hairs_are_thin():
    """Hairs and fibres are curved lines about 1 px wide: a 3 x 3 erosion removes (nearly) all of them."""
    for seed in range(4):
        out = Step("dust", 1.0, {"count": (6, 6), "alpha": (1.0, 1.0), "hair_prob": 1.0})(gray(), rng(53, seed))
        changed = (np.abs(out.astype(int) - 128).max(2) > 20).astype(np.uint8)
        assert changed.sum() > 50
        assert cv2.erode(changed, np.ones((3, 3), np.uint8)).sum() <= 0.05 * changed.sum()


def test_dust_blotches_and_gray_tones():
    """Blotches are larger than specks of the same size; gray_prob 1 paints mid-gray only."""
    specks, blotches = (
        np.mean(
            [
                (Step("dust", 1.0, {"count": (20, 20), "alpha": (1, 1), "blotch_prob": p})(gray(), rng(54, s)) != 128)
                .any(2)
                .sum()
                for s in range(3)
            ]
        )
        for p in (0.0, 1.0)
    )
    assert blotches > 1.5 * specks, (specks, blotches)
    params = {"count": (30, 30), "alpha": (1, 1), "gray_prob": 1.0}
    on_white, on_black = (Step("dust", 1.0, params)(gray(level), rng(55)) for level in (255, 0))
    assert on_white.min() >= 70 and on_black.max() <= 185 and (on_white != 255).any() and (on_black != 0).any()


def test_paper_texture_is_a_small_multiplicative_mottle():
    out = Step("paper_texture", 1.0, {"strength": (0.05, 0.05)})(gray(200), rng(56))
    assert (out[:, :, 0] == out[:, :, 1]).all() and (out[:, :, 1] == out[:, :, 2]).all()  # one gain for all channels
    assert abs(out.mean() - 200) < 2 and 4 < out.std() < 16, (out.mean(), out.std())
    dark = Step("paper_texture", 1.0, {"strength": (0.05, 0.05)})(gray(50), rng(56))
    assert dark.std() < out.std() / 2  # multiplicative: weaker on dark tones


def test_stains_tint_and_darken_with_a_rim():
    image = gray(230, 256)
    for seed in range(4):
        out = Step("stains", 1.0, {"count": (1, 1), "alpha": (0.6, 0.6)})(image, rng(57, seed))
        assert (out <= image).all()  # a stain only absorbs light
        drop = image.astype(float) - out
        stained = drop.max(2) > 3
        if not stained.any():  # off the picture
            continue
        assert drop[stained][:, 2].mean() > drop[stained][:, 0].mean()  # tinted: blue is lost most
        # the darkest pixels (the tide line) lie at the stain's edge, not in its middle
        core = cv2.erode(stained.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
        if core.sum() > 100:
            darkest = drop.sum(2) >= np.percentile(drop.sum(2)[stained], 95)
            assert (darkest & ~core).sum() > (darkest & core).sum(), seed


def test_varied_preset_is_wide_and_degrades_more_than_light():
    varied = restore_degrader("varied")
    steps = {step.name for step in varied.steps}
    assert steps == set(STEP_KINDS)  # every kind of damage
    images = [photo(i, 96, 96) for i in range(4)]
    mean_psnr = {
        preset: np.mean(
            [
                psnr_uint8(image, restore_degrader(preset)(image, rng(11, i, s)))
                for i, image in enumerate(images)
                for s in range(3)
            ]
        )
        for preset in ("light", "varied")
    }
    assert mean_psnr["varied"] < mean_psnr["light"] - 2, mean_psnr


@pytest.mark.parametrize("name", [step.name for step in restore_degrader("varied").steps])
def test_varied_steps_keep_the_picture_in_place(name):
    """Each step at the varied preset's ranges (wide scratches, blotches, stains...) keeps alignment."""
    step = next(step for step in restore_degrader("varied").steps if step.name == name)
    step = Step(name, 1.0, step.params)
    image = textured(5)
    for seed in range(3):
        assert_aligned(image, step(image, rng(21, seed)), f"{name} varied (seed {seed})")


def test_cli_offers_every_preset():
    from img2img.cli import build_parser
    from img2img.data.restore_presets import RESTORE_PRESETS

    assert RESTORE_PRESETS == PRESETS
    parser = build_parser()
    for argv in (["prepare", "restore", "in", "out"], ["eval", "--model", "m", "--task", "restore"]):
        assert parser.parse_args([*argv, "--preset", "varied"]).preset == "varied"
