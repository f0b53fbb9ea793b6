"""Tests for img2img.losses: exact values on fixed inputs, gradients, module shells, VGG weight loading."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from img2img import losses as L

P = torch.tensor([-2.0, 0.0, 1.0, 3.0])  # fixed discriminator logits


def _softplus(v: float) -> float:
    return math.log1p(math.exp(v))


# ------------------------------------------------------------------------------------ GAN loss

# (mode, target_is_real, for_discriminator, expected value on P)
GAN_CASES = [
    ("vanilla", True, True, sum(_softplus(-p) for p in P.tolist()) / 4),  # BCE vs 1 = softplus(-p)
    ("vanilla", False, True, sum(_softplus(p) for p in P.tolist()) / 4),  # BCE vs 0 = softplus(p)
    ("vanilla", True, False, sum(_softplus(-p) for p in P.tolist()) / 4),
    ("lsgan", True, True, (9 + 1 + 0 + 4) / 4),  # mean((p - 1)^2)
    ("lsgan", False, True, (4 + 0 + 1 + 9) / 4),  # mean(p^2)
    ("lsgan", True, False, (9 + 1 + 0 + 4) / 4),
    ("hinge", True, True, (3 + 1 + 0 + 0) / 4),  # mean(relu(1 - p))
    ("hinge", False, True, (0 + 1 + 2 + 4) / 4),  # mean(relu(1 + p))
    ("hinge", True, False, -0.5),  # -mean(p)
    ("wgangp", True, True, -0.5),
    ("wgangp", False, True, 0.5),
    ("wgangp", True, False, -0.5),
]


@pytest.mark.parametrize("mode,real,for_d,expected", GAN_CASES)
def test_gan_loss_exact(mode, real, for_d, expected):
    out = L.gan_loss(P, real, mode, for_discriminator=for_d)
    assert out.shape == ()
    assert out.item() == pytest.approx(expected, rel=1e-6, abs=1e-7)


def test_gan_loss_on_zeros():
    z = torch.zeros(2, 1, 4, 4)
    assert L.gan_loss(z, True, "vanilla").item() == pytest.approx(math.log(2), rel=1e-6)
    assert L.gan_loss(z, False, "vanilla").item() == pytest.approx(math.log(2), rel=1e-6)
    assert L.gan_loss(z, True, "lsgan").item() == pytest.approx(1.0)
    assert L.gan_loss(z, False, "lsgan").item() == pytest.approx(0.0)
    assert L.gan_loss(z, True, "hinge").item() == pytest.approx(1.0)


@pytest.mark.parametrize("mode", ["vanilla", "lsgan"])
def test_gan_loss_generator_equals_discriminator_real(mode):
    x = torch.randn(2, 1, 5, 5)
    assert torch.equal(L.gan_loss(x, True, mode, for_discriminator=False), L.gan_loss(x, True, mode))


@pytest.mark.parametrize("mode", ["hinge", "wgangp"])
def test_gan_loss_generator_fake_target_raises(mode):
    with pytest.raises(ValueError, match="target_is_real=True"):
        L.gan_loss(P, False, mode, for_discriminator=False)


def test_gan_loss_unknown_mode_names_valid_modes():
    with pytest.raises(ValueError, match="vanilla, lsgan, hinge, wgangp"):
        L.gan_loss(P, True, "wgan")


def test_gan_loss_multiscale_averages():
    small = torch.zeros(2, 1, 3, 3)  # hinge fake on zeros = 1.0
    out = L.gan_loss([P, small], False, "hinge")
    assert out.item() == pytest.approx((1.75 + 1.0) / 2)
    out = L.gan_loss((P, small), True, "wgangp", for_discriminator=False)
    assert out.item() == pytest.approx((-0.5 + 0.0) / 2)


def test_gan_loss_bad_prediction_type():
    with pytest.raises(TypeError):
        L.gan_loss([], True, "lsgan")


@pytest.mark.parametrize("mode", L.GAN_MODES)
def test_gan_loss_float32_under_autocast(mode):
    x = torch.randn(2, 1, 6, 6).bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = L.gan_loss(x, True, mode)
    assert out.dtype == torch.float32
    assert out.item() == pytest.approx(L.gan_loss(x.float(), True, mode).item(), rel=1e-6)


# ---------------------------------------------------------------------------- gradient penalty


class LinearCritic(nn.Module):
    """D(x) = sum(w * x) per sample: its input gradient is w everywhere, so GP = weight*(||w||-1)^2."""

    def __init__(self, w: torch.Tensor, multiscale: bool = False) -> None:
        super().__init__()
        self.w = nn.Parameter(w.clone())
        self.multiscale = multiscale

    def forward(self, x):
        out = (self.w * x).flatten(1).sum(dim=1)  # (n,)
        if self.multiscale:  # same critic at two "scales", one as a 1x2x2 map of identical values
            return [out, out.view(-1, 1, 1, 1).expand(-1, 1, 2, 2)]
        return out


W = torch.tensor([[[3.0, 0.0], [0.0, 4.0]]])  # (1, 2, 2), ||w|| = 5


@pytest.mark.parametrize("multiscale", [False, True])
@pytest.mark.parametrize("alpha", [None, torch.tensor([0.0, 0.5, 0.99]), torch.tensor([0.3, 0.3, 0.3])])
def test_gradient_penalty_linear_critic_exact(alpha, multiscale):
    torch.manual_seed(0)
    critic = LinearCritic(W, multiscale=multiscale)
    real, fake = torch.randn(3, 1, 2, 2), torch.randn(3, 1, 2, 2)
    gp = L.gradient_penalty(critic, real, fake, weight=10.0, alpha=alpha)
    assert gp.shape == ()
    assert gp.item() == pytest.approx(10.0 * (5.0 - 1.0) ** 2, rel=1e-6)  # 160


def test_gradient_penalty_trains_discriminator():
    critic = LinearCritic(W)
    fake = torch.randn(3, 1, 2, 2, requires_grad=True)
    gp = L.gradient_penalty(critic, torch.randn(3, 1, 2, 2), fake, weight=10.0)
    gp.backward()
    # d/dw 10 (||w|| - 1)^2 = 20 (||w|| - 1) w / ||w|| = 16 w
    torch.testing.assert_close(critic.w.grad, 16.0 * W)
    assert fake.grad is None  # fake is detached inside


def test_gradient_penalty_conv_discriminator():
    torch.manual_seed(0)
    disc = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(4, 1, 3))
    gp = L.gradient_penalty(disc, torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8))
    assert torch.isfinite(gp) and gp.item() >= 0
    gp.backward()
    # every weight gets a gradient (a bias of the last layer cannot change dD/dx)
    assert all(m.weight.grad is not None and m.weight.grad.abs().sum() > 0 for m in (disc[0], disc[2]))


def test_gradient_penalty_shape_mismatch():
    with pytest.raises(ValueError):
        L.gradient_penalty(LinearCritic(W), torch.randn(2, 1, 2, 2), torch.randn(3, 1, 2, 2))


# ------------------------------------------------------------------------------ reconstruction


def test_l1_l2_exact():
    x, y = torch.tensor([0.0, 1.0, -2.0, 3.0]), torch.zeros(4)
    assert L.l1_loss(x, y).item() == pytest.approx(6 / 4)
    assert L.l2_loss(x, y).item() == pytest.approx(14 / 4)
    assert L.cycle_loss(x, y).item() == pytest.approx(6 / 4)
    assert L.identity_loss(x, y).item() == pytest.approx(6 / 4)


def test_psnr_loss_is_minus_mean_per_sample_psnr():
    from img2img.metrics import psnr

    y = torch.zeros(2, 3, 4, 4)
    x = y.clone()
    x[0] += 0.1  # mse 0.01 -> 10 log10(0.01) = -20
    x[1, :, :2] += 0.5  # mse 0.125
    expected = (-20.0 + 10 * math.log10(0.125)) / 2
    assert L.psnr_loss(x, y, eps=0.0).item() == pytest.approx(expected, abs=1e-4)
    # the same as the library's PSNR of each image (range 2 in [-1, 1]) shifted by 10 log10(4)
    per_image = psnr(x, y, reduction="none").tolist()  # data range 2
    assert -L.psnr_loss(x, y, eps=0.0).item() == pytest.approx(sum(per_image) / 2 - 10 * math.log10(4), abs=1e-3)
    # not the batch MSE: the nearly clean sample weighs as much as the bad one
    assert L.psnr_loss(x, y, eps=0.0).item() != pytest.approx(10 * math.log10(L.l2_loss(x, y).item()), abs=0.1)
    assert L.psnr_loss(y, y).item() == pytest.approx(-40.0)  # eps=1e-4 caps a perfect sample
    x.requires_grad_(True)
    L.psnr_loss(x, y).backward()
    assert torch.isfinite(x.grad).all() and x.grad[0].sum() > 0


def test_charbonnier_exact():
    x, y = torch.tensor([1.0, -2.0]), torch.tensor([1.0, 1.0])  # diff (0, -3)
    assert L.charbonnier_loss(x, y, eps=4.0).item() == pytest.approx((4.0 + 5.0) / 2)
    assert L.charbonnier_loss(y, y).item() == pytest.approx(1e-3)  # default eps


def test_feature_matching_exact_and_real_detached():
    fake = [torch.zeros(1, 4, 8, 8), torch.zeros(1, 8, 4, 4)]
    real = [torch.ones(1, 4, 8, 8, requires_grad=True), torch.full((1, 8, 4, 4), 3.0, requires_grad=True)]
    assert L.feature_matching_loss(fake, real).item() == pytest.approx(2.0)
    # nested: one list per discriminator scale, every layer counts equally
    fake2, real2 = [fake, [torch.zeros(1, 2, 2, 2)]], [real, [torch.full((1, 2, 2, 2), 5.0)]]
    nested = L.feature_matching_loss(fake2, real2)
    assert nested.item() == pytest.approx((1 + 3 + 5) / 3)
    fake_g = [f.clone().requires_grad_(True) for f in fake]
    L.feature_matching_loss(fake_g, real).backward()
    assert all(r.grad is None for r in real)
    with pytest.raises(ValueError):
        L.feature_matching_loss(fake, real[:1])
    with pytest.raises(ValueError):
        L.feature_matching_loss([torch.zeros(1, 2)], [torch.zeros(1, 3)])


# ------------------------------------------------------------------------------ perceptual loss


@pytest.fixture(scope="module")
def vgg_state():
    """A randomly initialised VGG19 ``features`` state dict up to relu2_2 (layers 0..8)."""
    torch.manual_seed(0)
    return {k: v.clone() for k, v in L._vgg19_features(9).state_dict().items()}


@pytest.fixture
def no_weights_env(tmp_path, monkeypatch):
    """No explicit file, no env var, and an empty torch hub cache."""
    monkeypatch.delenv(L.VGG19_WEIGHTS_ENV, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    return tmp_path


@pytest.fixture
def vgg_file(tmp_path, vgg_state):
    """The state dict saved like torchvision's full vgg19 file: ``features.N.*`` plus classifier keys."""
    full = {f"features.{k}": v for k, v in vgg_state.items()}
    full["classifier.0.weight"] = torch.zeros(2, 2)
    path = tmp_path / "vgg19_random.pth"
    torch.save(full, path)
    return path


def _assert_loaded(loss: L.PerceptualLoss, state: dict) -> None:
    for k, v in loss.features.state_dict().items():
        assert torch.equal(v, state[k]), k


def test_vgg19_layers_match_torchvision():
    import torchvision

    with torch.device("meta"):  # no allocation, no init, no download
        tv = torchvision.models.vgg19(weights=None).features
    ours = L._vgg19_features(37)
    shapes = {k: v.shape for k, v in ours.state_dict().items()}
    assert shapes == {k: v.shape for k, v in tv.state_dict().items()}
    expected = {"relu1_2": 3, "relu2_2": 8, "relu3_4": 17, "relu4_4": 26, "relu5_4": 35}
    assert {k: L.VGG19_LAYERS[k] for k in expected} == expected
    kinds = {"relu": nn.ReLU, "conv": nn.Conv2d, "pool": nn.MaxPool2d}
    for name, idx in L.VGG19_LAYERS.items():
        assert isinstance(tv[idx], kinds[name[:4]]), name


def test_perceptual_missing_weights_message(no_weights_env):
    assert L.find_vgg19_weights() is None
    with pytest.raises(FileNotFoundError) as info:
        L.PerceptualLoss(layers=("relu2_2",))
    message = str(info.value)
    for needle in ("IMG2IMG_VGG19_WEIGHTS", "--vgg-weights", "vgg19-dcbb9e9d.pth", "IMAGENET1K_V1"):
        assert needle in message
    for needle in (str(no_weights_env), "weights_path"):  # the cache path looked at, the argument
        assert needle in message


def test_perceptual_explicit_missing_path_raises(no_weights_env):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        L.PerceptualLoss(weights_path=no_weights_env / "nope.pth", layers=("relu2_2",))


def test_perceptual_explicit_path(no_weights_env, vgg_file, vgg_state):
    loss = L.PerceptualLoss(weights_path=vgg_file, layers=("relu2_2",))
    _assert_loaded(loss, vgg_state)
    assert len(loss.features) == 9


def test_perceptual_env_var(no_weights_env, vgg_file, vgg_state, monkeypatch):
    monkeypatch.setenv(L.VGG19_WEIGHTS_ENV, str(vgg_file))
    assert L.find_vgg19_weights() == vgg_file
    _assert_loaded(L.PerceptualLoss(layers=("relu2_2",)), vgg_state)


def test_perceptual_torch_hub_cache(no_weights_env, vgg_state):
    cache = no_weights_env / "torch_home" / "hub" / "checkpoints" / L.VGG19_CACHE_FILENAME
    cache.parent.mkdir(parents=True)
    torch.save(vgg_state, cache)  # features-only key format
    assert L.find_vgg19_weights() == cache
    _assert_loaded(L.PerceptualLoss(layers=("relu1_2",)), vgg_state)


def test_perceptual_safetensors(no_weights_env, vgg_state, tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "vgg.safetensors"
    save_file({k: v.contiguous() for k, v in vgg_state.items()}, str(path))
    _assert_loaded(L.PerceptualLoss(weights_path=path, layers=("relu2_2",)), vgg_state)


def test_perceptual_rejects_bad_files(no_weights_env, vgg_state, tmp_path):
    path = tmp_path / "partial.pth"
    torch.save({k: v for k, v in vgg_state.items() if not k.startswith("7.")}, path)
    with pytest.raises(ValueError, match="lacks"):
        L.PerceptualLoss(weights_path=path, layers=("relu2_2",))
    path = tmp_path / "other.pth"
    torch.save({"encoder.weight": torch.zeros(1)}, path)
    with pytest.raises(ValueError, match="unexpected key"):
        L.PerceptualLoss(weights_path=path, layers=("relu1_1",))
    with pytest.raises(ValueError, match="unknown VGG19 layer"):
        L.PerceptualLoss(weights_path=path, layers=("relu9_9",))
    with pytest.raises(ValueError, match="criterion"):
        L.PerceptualLoss(weights_path=path, layers=("relu1_1",), criterion="l3")


def test_perceptual_frozen_and_eval(no_weights_env, vgg_file):
    loss = L.PerceptualLoss(weights_path=vgg_file, layers=("relu2_2",))
    nn.ModuleDict({"perceptual": loss}).train()  # a parent's train() must not unfreeze the VGG features
    assert loss.training and not loss.features.training
    assert all(not p.requires_grad for p in loss.parameters())
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    out = loss(x * 2 - 1, torch.rand(1, 3, 32, 32) * 2 - 1)
    out.backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in loss.parameters())


def _relu1_1(t, vgg_state):
    """relu1_1 of VGG19 computed by hand: ImageNet normalisation of [-1, 1] input, first conv, ReLU."""
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    t = ((t + 1) / 2 - mean) / std
    return torch.relu(nn.functional.conv2d(t, vgg_state["0.weight"], vgg_state["0.bias"], padding=1))


def test_perceptual_value_matches_manual(no_weights_env, vgg_file, vgg_state):
    """relu1_1 with weight 2: independently recompute the normalisation and the first conv."""
    loss = L.PerceptualLoss(weights_path=vgg_file, layers=("relu1_1", "relu1_2"), layer_weights=(2.0, 0.0))
    torch.manual_seed(1)
    x, y = torch.rand(2, 3, 16, 16) * 2 - 1, torch.rand(2, 3, 16, 16) * 2 - 1

    def phi(t):
        return _relu1_1(t, vgg_state)

    expected = 2.0 * (phi(x) - phi(y)).abs().mean()
    torch.testing.assert_close(loss(x, y), expected)
    assert loss(x, x).item() == 0.0
    # one-channel input is repeated to three channels
    g, h = x[:, :1], y[:, :1]
    torch.testing.assert_close(loss(g, h), loss(g.expand(-1, 3, -1, -1), h.expand(-1, 3, -1, -1)))


def test_perceptual_feature_scale_mse_exact(no_weights_env, vgg_file, vgg_state):
    """SRGAN's VGG loss: MSE between features divided by 12.75, i.e. MSE / 12.75^2."""
    assert L.SRGAN_VGG_FEATURE_SCALE == 1 / 12.75
    loss = L.PerceptualLoss(
        weights_path=vgg_file, layers=("relu1_1",), criterion="l2", feature_scale=L.SRGAN_VGG_FEATURE_SCALE
    )
    plain = L.PerceptualLoss(weights_path=vgg_file, layers=("relu1_1",), criterion="l2")
    torch.manual_seed(2)
    x, y = torch.rand(2, 3, 16, 16) * 2 - 1, torch.rand(2, 3, 16, 16) * 2 - 1

    def phi(t):
        return _relu1_1(t, vgg_state)

    expected = ((phi(x) / 12.75 - phi(y) / 12.75) ** 2).mean()
    torch.testing.assert_close(loss(x, y), expected)
    torch.testing.assert_close(loss(x, y), plain(x, y) / 12.75**2)
    assert "feature_scale=0.0784" in repr(loss)
    for bad in (0.0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="feature_scale"):
            L.PerceptualLoss(weights_path=vgg_file, layers=("relu1_1",), feature_scale=bad)


# --------------------------------------------------------------------------- gradient to output


def _perceptual(tmp_path, vgg_state):
    path = tmp_path / "vgg_grad.pth"
    torch.save(vgg_state, path)
    return L.PerceptualLoss(weights_path=path, layers=("relu2_2",), criterion="l2")


GRAD_CASES = {
    "gan_vanilla": lambda x, y: L.gan_loss(x, True, "vanilla", for_discriminator=False),
    "gan_lsgan": lambda x, y: L.gan_loss([x, x[..., ::2, ::2]], True, "lsgan", for_discriminator=False),
    "gan_hinge": lambda x, y: L.gan_loss(x, True, "hinge", for_discriminator=False),
    "gan_wgangp": lambda x, y: L.gan_loss(x, True, "wgangp", for_discriminator=False),
    "gan_hinge_d": lambda x, y: L.gan_loss(x, False, "hinge"),
    "l1": L.l1_loss,
    "l2": L.l2_loss,
    "charbonnier": L.charbonnier_loss,
    "cycle": L.cycle_loss,
    "identity": L.identity_loss,
    "feature_matching": lambda x, y: L.feature_matching_loss([x, x * 2], [y, y]),
}
# gradient_penalty does not take the generator output (fake is detached); its gradient to the
# discriminator is checked in test_gradient_penalty_trains_discriminator.


@pytest.mark.parametrize("name", [*GRAD_CASES, "perceptual"])
def test_loss_carries_gradient_to_output(name, tmp_path, vgg_state):
    torch.manual_seed(0)
    fn = _perceptual(tmp_path, vgg_state) if name == "perceptual" else GRAD_CASES[name]
    x = (torch.rand(2, 3, 32, 32) * 2 - 1).requires_grad_(True)
    y = torch.rand(2, 3, 32, 32) * 2 - 1
    loss = fn(x, y)
    assert loss.shape == () and loss.requires_grad
    loss.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_color_transform_loss_compares_block_means():
    target = torch.rand(2, 3, 16, 16) * 2 - 1
    # zero-mean detail inside each 8 x 8 block (a checkerboard) does not count; a photo-wide shift does
    checker = (torch.arange(16)[:, None] + torch.arange(16)[None, :]) % 2 * 0.4 - 0.2
    assert L.color_transform_loss(target + checker, target).item() == pytest.approx(-40.0, abs=1e-3)  # eps caps it
    shifted = L.color_transform_loss(target + 0.1, target).item()
    assert shifted == pytest.approx(10 * math.log10(0.01 + 1e-4), abs=1e-3)
    assert shifted == pytest.approx(L.psnr_loss(target + 0.1, target).item(), abs=1e-3)
    with pytest.raises(RuntimeError):  # smaller than one block
        L.color_transform_loss(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4))
