"""The photo-wide colour head of the restore U-Net (img2img.nets.color_head)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from img2img.nets import UNetGenerator, create_model
from img2img.nets.color_head import GlobalColorHead
from img2img.nets.layers import init_weights, uses_image_statistics

UNET = dict(num_downs=3, base_channels=8, upsample="resize", norm="none", residual=True)


def smooth_images(generator: torch.Generator, n: int, size: int = 32) -> torch.Tensor:
    """Photos-like inputs in [-1, 1] that use the whole range: smooth noise, stretched per image."""
    x = F.interpolate(torch.rand(n, 3, size // 4, size // 4, generator=generator), size=size, mode="bilinear")
    lo, hi = x.amin(dim=(2, 3), keepdim=True), x.amax(dim=(2, 3), keepdim=True)
    return (x - lo) / (hi - lo) * 2 - 1


def test_starts_as_the_identity_and_reports_image_statistics():
    torch.manual_seed(0)
    head = GlobalColorHead()
    x = torch.rand(2, 3, 40, 24) * 2 - 1
    assert torch.equal(head(x), x)
    matrix, offset = head.transform(x)
    assert torch.equal(matrix, torch.eye(3).expand(2, 3, 3)) and torch.equal(offset, torch.zeros(2, 3, 1))
    net = init_weights(create_model("unet_256", **UNET, global_color=True))
    assert torch.allclose(net(x[:, :, :32, :24]), x[:, :, :32, :24], atol=1e-6)  # head and residual start at zero
    assert net.config["global_color"] is True
    assert uses_image_statistics(net) and not uses_image_statistics(create_model("unet_256", **UNET))


def test_features_are_histograms_means_and_moments():
    head = GlobalColorHead(levels=4, stride=1)
    x = torch.full((1, 3, 8, 8), -1.0)
    x[:, 1] = 1.0  # green white, red and blue black
    x[:, 2, :4] = 1.0  # blue half white
    f = head.features(x)
    assert f.shape == (1, 3 * 4 + 3 + 6)
    cdf = f[0, :12].view(3, 4)
    levels = torch.tensor([-0.6, -0.2, 0.2, 0.6])  # 4 levels evenly inside (-1, 1)
    below = torch.sigmoid((levels + 1.0) / 0.25)  # temperature 1 / levels
    above = torch.sigmoid((levels - 1.0) / 0.25)
    assert torch.allclose(cdf[0], below)  # red, all black: "below" every level (softly)
    assert torch.allclose(cdf[1], above)  # green, all white: above every level
    assert torch.allclose(cdf[2], (below + above) / 2)  # blue: half of each
    assert torch.all(cdf[0].diff() > 0) and below[-1] > 0.99 and above[0] < 0.01
    assert torch.allclose(f[0, 12:15], torch.tensor([-1.0, 1.0, 0.0]))  # means
    # second moments in triu order: rr, rg, rb, gg, gb, bb
    assert torch.allclose(f[0, 15:], torch.tensor([1.0, -1.0, 0.0, 1.0, 0.0, 1.0]))


def test_reads_the_whole_input():
    torch.manual_seed(0)
    head = GlobalColorHead()
    with torch.no_grad():
        head.mlp[-1].weight.normal_(0, 0.5)
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    far = x.clone()
    far[..., 48:, 48:] = 1.0  # change one corner: the transform, so the opposite corner, changes
    assert not torch.allclose(head(x)[..., :8, :8], head(far)[..., :8, :8])


def test_learns_to_undo_a_fade_it_reads_from_the_histograms():
    """Each image gets its own gain and offset per channel (a fade and a cast); the head, seeing
    only the faded image, learns to invert them: the error falls far below doing nothing."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    head = GlobalColorHead(hidden=32)
    optimizer = torch.optim.Adam(head.parameters(), lr=3e-3)

    def batch(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        clean = smooth_images(g, n)
        gain = 0.5 + 0.4 * torch.rand(n, 3, 1, 1, generator=g)
        offset = (torch.rand(n, 3, 1, 1, generator=g) - 0.5) * 0.6
        return clean * gain + offset, clean

    for _ in range(400):
        faded, clean = batch(16)
        loss = (head(faded) - clean).abs().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    faded, clean = batch(64)
    with torch.no_grad():
        before = (faded - clean).pow(2).mean()
        after = (head(faded) - clean).pow(2).mean()
    assert after < before / 3, (before, after)  # measured: 0.053 -> 0.012


@pytest.mark.parametrize(
    "size,vignette,window",
    [((32, 48), False, 0), ((64, 40), False, 0), ((32, 48), True, 0), ((64, 40), True, 0), ((64, 40), True, 16)],
)
def test_exports_to_onnx_with_any_size(tmp_path, size, vignette, window):
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    extra = {"global_vignette": True, "detail_sigma": 2.0} if vignette else {}
    extra.update({"color_window": window} if window else {})
    net = init_weights(create_model("unet_256", **UNET, global_color=True, **extra)).eval()
    with torch.no_grad():
        net.color.mlp[-1].weight.normal_(0, 0.3)
        net.up[-1].conv.weight.normal_(0, 0.05)
        net.color.vignette_scale.fill_(0.5)  # the restore recipe's scale: the export keeps it
    path = tmp_path / "net.onnx"
    from img2img.export import _export_graph

    assert _export_graph(net, torch.zeros(1, 3, 32, 32), str(path), None) == "dynamo"
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = torch.rand(2, 3, *size) * 2 - 1
    with torch.no_grad():
        expected = net(x).numpy()
    (got,) = session.run(None, {"input": x.numpy()})
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_windows_average_the_colour_transform_over_crop_sized_parts():
    """With ``window``, an input no larger than a training crop is judged as before; a larger one
    gets the trimmed mean of the predictions for 4 x 4 overlapping windows (each 3/4 of its side,
    at least ``window``), whose features are exactly those of the crops; the vignette stays photo-wide."""
    from img2img.nets.color_head import WINDOW_TRIM, WINDOWS

    torch.manual_seed(0)
    whole = GlobalColorHead(vignette=True)
    with torch.no_grad():
        whole.mlp[-1].weight.normal_(0, 0.3)
    windowed = GlobalColorHead(vignette=True, window=64)
    windowed.load_state_dict(whole.state_dict())
    crop = torch.rand(2, 3, 64, 48) * 2 - 1
    torch.testing.assert_close(windowed(crop), whole(crop), atol=1e-5, rtol=0)  # a crop is its own window
    windowed.train()  # in training a crop skips the windows: exactly the whole-input prediction
    torch.testing.assert_close(windowed.params_for(crop), whole.params_for(crop), atol=0, rtol=0)
    windowed.eval()

    photo = torch.rand(1, 3, 200, 296) * 2 - 1  # sampled grid (stride 4): 50 x 74
    features = windowed.window_features(photo)
    assert features.shape == (1, WINDOWS * WINDOWS, whole.num_features)
    grid_h, grid_w = 50, 74
    size_h, size_w = max(grid_h * 3 // 4, 16), max(grid_w * 3 // 4, 16)  # 37 x 55 samples, at least 64 px / 4
    crops = []
    for a in range(WINDOWS):
        for b in range(WINDOWS):
            top, left = a * (grid_h - size_h) // (WINDOWS - 1), b * (grid_w - size_w) // (WINDOWS - 1)
            crops.append(photo[:, :, 4 * top : 4 * (top + size_h), 4 * (left + 0) : 4 * (left + size_w)])
    expected = torch.cat([whole.features(c) for c in crops])
    torch.testing.assert_close(features[0], expected, atol=1e-5, rtol=0)
    params = windowed.params_for(photo)
    ranked = whole.predict(expected).sort(dim=0).values  # per parameter, over the 16 windows
    assert WINDOW_TRIM == 4
    trimmed = ranked[4:12].mean(dim=0)  # without the 4 lowest and the 4 highest
    torch.testing.assert_close(params[0, :12], trimmed[:12], atol=1e-5, rtol=0)  # colour: the windows'
    assert not torch.allclose(trimmed[:12], ranked.mean(dim=0)[:12], atol=1e-4)  # (not their plain mean)
    torch.testing.assert_close(params[0, 12:], whole.params_for(photo)[0, 12:])  # vignette: the whole photo
    assert not torch.allclose(windowed(photo), whole(photo), atol=1e-3)
    # a tiny input (smaller than one window): every window is the whole input
    tiny = torch.rand(1, 3, 8, 8) * 2 - 1
    torch.testing.assert_close(windowed(tiny), whole(tiny), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="window"):
        GlobalColorHead(window=-1)
    with pytest.raises(ValueError, match="global_color"):
        create_model("unet_256", **UNET, color_window=128)


def test_undoes_the_recipes_vignette_given_its_parameters():
    """The falloff is the degradation's own formula (``img2img.data.degrade.vignette``): with the
    strength, exponent and centre the recipe drew, the head gives back the undamaged picture."""
    from img2img.data.degrade import vignette

    head = GlobalColorHead(vignette=True)
    photo = np.full((64, 48, 3), 200, np.uint8)
    damaged = vignette(photo, np.random.default_rng(3), strength=(0.3, 0.4), exponent=(1.5, 2.5))
    rng = np.random.default_rng(3)  # the same draws, in the same order
    cy, cx = rng.uniform(-0.15, 0.15, 2)
    strength, exponent = rng.uniform(0.3, 0.4), rng.uniform(1.5, 2.5)
    params = torch.zeros(1, head.num_params)
    params[0, -4:] = torch.tensor([strength, exponent - 2.0, cy, cx])
    x = torch.from_numpy(damaged).permute(2, 0, 1)[None].float() / 127.5 - 1
    assert (x + 1).mul(127.5).min() < 150  # the corners are much darker
    restored = (head.apply(params, x) + 1) * 127.5
    assert (restored - 200).abs().max() < 1.5  # the damage's own rounding, amplified by 1 / gain
    # block means on a grid: the gain is taken at the cells' centres (close: the gain curves within a cell)
    means = F.avg_pool2d(x, 8)
    assert ((means + 1) * 127.5 - 200).abs().max() > 40
    assert ((head.apply(params, means, cells=True) + 1) * 127.5 - 200).abs().max() < 5
    # without the parameters (a new head) nothing changes
    assert torch.equal(head(x), x)


def test_vignette_features_read_the_brightness_layout():
    from img2img.nets.color_head import _cell_means

    image = torch.rand(2, 32, 24)
    torch.testing.assert_close(_cell_means(image, 4), F.avg_pool2d(image[:, None], (8, 6))[:, 0])
    odd = _cell_means(torch.ones(1, 7, 5), 4)  # sizes that do not divide: every cell is still a mean
    torch.testing.assert_close(odd, torch.ones(1, 4, 4))
    head = GlobalColorHead(vignette=True, stride=1)
    plain = GlobalColorHead(stride=1)
    assert head.num_features == plain.num_features + 16 and head.num_params == plain.num_params + 4
    x = torch.zeros(1, 3, 16, 16)
    x[:, :, :4, :4] = -1.0  # a dark top-left cell
    layout = head.features(x)[0, plain.num_features :].view(4, 4)
    assert layout[0, 0] == pytest.approx(-1.0 + 1 / 16) and layout[3, 3] == pytest.approx(1 / 16)
    torch.testing.assert_close(head.features(x)[:, : plain.num_features], plain.features(x))
    with pytest.raises(ValueError, match="global_color"):
        create_model("unet_256", **UNET, global_vignette=True)


def test_gaussian_blur_and_a_detail_only_residual():
    from img2img.nets.unet import GaussianBlur

    blur = GaussianBlur(2.0)
    assert blur.radius == 6 and blur.taps.sum().item() == pytest.approx(1.0)
    flat = torch.full((1, 3, 20, 24), 0.3)
    torch.testing.assert_close(blur(flat), flat)  # constants pass (edges replicated)
    impulse = torch.zeros(1, 1, 31, 31)
    impulse[0, 0, 15, 15] = 1.0
    spread = blur(impulse)
    assert spread.sum().item() == pytest.approx(1.0, abs=1e-5)
    assert spread[0, 0, 15, 15].item() == pytest.approx(blur.taps[6].item() ** 2, rel=1e-5)
    assert spread[0, 0, 15, 17].item() == pytest.approx((blur.taps[6] * blur.taps[8]).item(), rel=1e-5)
    # bf16 (autocast or tensors) is blurred in float32: the long bf16 depthwise taps took minutes a step on a CPU
    noisy = torch.rand(2, 3, 24, 28)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under_autocast = blur(noisy)
    assert under_autocast.dtype == torch.float32
    torch.testing.assert_close(under_autocast, blur(noisy), rtol=0, atol=0)
    halved = blur(noisy.bfloat16())
    assert halved.dtype == torch.bfloat16
    torch.testing.assert_close(halved, blur(noisy.bfloat16().float()).bfloat16(), rtol=0, atol=0)
    # a residual U-Net whose correction is a constant: added as it is, or taken away entirely when high-passed
    x = torch.rand(2, 3, 32, 32) * 1.2 - 0.6
    for sigma, shift in ((0.0, 0.3), (4.0, 0.0)):
        net = create_model("unet_256", **UNET, detail_sigma=sigma)
        with torch.no_grad():
            net.up[-1].conv.weight.zero_()
            net.up[-1].conv.bias.fill_(0.3)
        torch.testing.assert_close(net(x), x + shift)
    with pytest.raises(ValueError, match="residual"):
        create_model("unet_256", **{**UNET, "residual": False}, detail_sigma=2.0)


def test_zero_start_colorizer_starts_at_no_colour():
    """``zero_start``: a new Lab colorizer predicts ab = 0, i.e. returns the gray input."""
    torch.manual_seed(0)
    kwargs = dict(in_channels=1, out_channels=2, num_downs=3, base_channels=8, upsample="resize", norm="instance")
    net = init_weights(create_model("unet_256", **kwargs, zero_start=True))
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    assert torch.equal(net(x), torch.zeros(2, 2, 32, 32))
    assert net.config["zero_start"] is True
    assert net(x).abs().amax() == 0 and init_weights(create_model("unet_256", **kwargs))(x).abs().amax() > 0
    loss = (net(x) - 0.5).abs().mean()
    loss.backward()  # the last conv learns first; the rest follows once it is not zero
    assert net.up[-1].conv.weight.grad.abs().sum() > 0


def _constant_vignette_head(strength: float) -> GlobalColorHead:
    """A head that predicts no colour change and a centred vignette of ``strength``, exponent 2."""
    head = GlobalColorHead(vignette=True)
    with torch.no_grad():
        head.mlp[-1].weight.zero_()
        head.mlp[-1].bias.zero_()
        head.mlp[-1].bias[-4] = strength
    return head


def test_vignette_scale_shrinks_the_predicted_strength_outside_training():
    head = _constant_vignette_head(0.4)
    params = head.predict(torch.zeros(1, head.num_features)).detach()
    gain = head.falloff(params, 9, 9)  # training mode: the strength as predicted
    assert gain[0, 0, 0, 0] == pytest.approx(0.6) and gain[0, 0, 4, 4] == pytest.approx(1.0, abs=1e-5)
    head.vignette_scale.fill_(0.25)
    assert torch.equal(head.falloff(params, 9, 9), gain), "the scale is for inference: training ignores it"
    head.eval()
    assert head.falloff(params, 9, 9)[0, 0, 0, 0] == pytest.approx(1 - 0.4 * 0.25)
    head.vignette_scale.fill_(0.0)
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    torch.testing.assert_close(head(x), x)  # no vignette, no colour change: the identity


def test_the_scale_is_saved_with_the_weights_and_old_weights_take_the_constructors():
    head = _constant_vignette_head(0.4)
    head.vignette_scale.fill_(0.75)
    state = head.state_dict()
    assert float(state["vignette_scale"]) == 0.75
    loaded = GlobalColorHead(vignette=True, vignette_scale=0.5)
    loaded.load_state_dict(state)
    assert float(loaded.vignette_scale) == 0.75  # the weights' scale (e.g. set by hand) wins
    state.pop("vignette_scale")  # weights saved before the scale existed
    for scale in (1.0, 0.25):  # their config: none (1, the vignette as predicted) or a chosen one
        other = GlobalColorHead(vignette=True, vignette_scale=scale)
        other.load_state_dict(state)  # strict: the missing key is filled, not reported
        assert float(other.vignette_scale) == scale
    torch.testing.assert_close(other.mlp[-1].bias, head.mlp[-1].bias)
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="vignette_scale"):
            GlobalColorHead(vignette=True, vignette_scale=bad)
    with pytest.raises(ValueError, match="vignette=True"):
        GlobalColorHead(vignette_scale=0.5)


def test_unet_passes_the_scale_to_its_head_and_refuses_it_without_a_vignette():
    net = UNetGenerator(
        num_downs=2, base_channels=4, residual=True, global_color=True, global_vignette=True, vignette_scale=0.5
    )
    assert float(net.color.vignette_scale) == 0.5
    with pytest.raises(ValueError, match="global_vignette"):
        UNetGenerator(num_downs=2, base_channels=4, residual=True, global_color=True, vignette_scale=0.5)
