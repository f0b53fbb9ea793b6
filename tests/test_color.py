"""Lab colorization: conversions agree on device and in the runtime; luminance is kept."""

from __future__ import annotations

import numpy as np
import torch
from conftest import TINY_UNET, pattern

from img2img.color import join_lab, split_lab
from img2img.infer import Translator
from img2img.training import train
from img2img_runtime.color import lab_to_rgb, rgb_to_lab
from img2img_runtime.processing import ModelSpec, run_images


def test_lab_round_trip_within_one_level():
    rgb = np.random.default_rng(0).integers(0, 256, (64, 64, 3)).astype(np.float32) / 255
    assert np.abs(lab_to_rgb(rgb_to_lab(rgb)) - rgb).max() < 1 / 255
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None] * 2 - 1
    assert (join_lab(*split_lab(x)) - x).abs().max() < 2 / 255  # [-1, 1] range: 1/255 of [0, 1]


def test_device_and_runtime_lab_agree():
    rgb = pattern(3).astype(np.float32) / 255
    lightness, ab = split_lab(torch.from_numpy(rgb).permute(2, 0, 1)[None] * 2 - 1)
    lab = rgb_to_lab(rgb)
    assert np.abs(lightness[0, 0].numpy() - (lab[:, :, 0] / 50 - 1)).max() < 1e-4
    assert np.abs(ab[0].permute(1, 2, 0).numpy() * 110 - lab[:, :, 1:]).max() < 1e-2


def test_colorization_keeps_input_lightness_and_colour_resolution():
    """A 'model' that predicts a constant colour: the output's L equals the input's L."""
    image = pattern(5, 96)
    spec = ModelSpec(in_channels=1, out_channels=2, color="lab", size_multiple=8)
    seen = []

    def run_batch(batch):
        seen.append(batch.shape)
        return np.full((batch.shape[0], 2, batch.shape[2], batch.shape[3]), 0.03, np.float32)  # ab = 3.3: in gamut

    gray = image[:, :, :1]  # one-channel input: treated as a gray photo
    out = run_images(run_batch, [image, gray], spec)
    for o, source in zip(out, [image, np.repeat(gray, 3, axis=2)]):
        assert o.shape == image.shape
        l_out, l_in = rgb_to_lab(o / 255.0)[:, :, 0], rgb_to_lab(source / 255.0)[:, :, 0]
        assert np.abs(l_out - l_in).max() < 0.6  # only uint8 rounding of the result
        assert (
            np.median(np.abs(rgb_to_lab(o / 255.0)[:, :, 1:] - 3.3)) < 0.5
        )  # the predicted colour (dark pixels quantise coarser)
    assert seen[0][1] == 1  # the net sees one lightness channel
    small = run_images(run_batch, [image], ModelSpec(in_channels=1, out_channels=2, color="lab", color_resolution=32))
    assert seen[-1][2:] == (32, 32) and small[0].shape == image.shape


def test_train_colorization_and_translate(tmp_path, paired_dir):
    # batch norm (the former default) keeps an untrained net's colours in gamut, so L must come back exactly;
    # out-of-gamut colours are clipped in RGB, which moves L (instance norm's first steps give such colours)
    nets = {**TINY_UNET, "generator_kwargs": {**TINY_UNET["generator_kwargs"], "norm": "batch"}}
    run = train(
        "pix2pix",
        data=str(paired_dir),
        out=str(tmp_path / "run"),
        steps=2,
        size=32,
        color_space="lab",
        num_workers=0,
        progress=False,
        **nets,
    )
    g = run.task.generator
    assert (g.in_channels, g.out_channels) == (1, 2)
    translator = Translator.from_pretrained(tmp_path / "run", device="cpu")
    photo = pattern(7, 40)
    gray = np.repeat(np.asarray(photo.mean(2, keepdims=True), np.uint8), 3, axis=2)
    out = translator(gray)
    assert out.shape == photo.shape
    assert np.abs(rgb_to_lab(out / 255.0)[:, :, 0] - rgb_to_lab(gray / 255.0)[:, :, 0]).max() < 1.0
