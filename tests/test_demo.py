"""The demo workflow end to end (few steps), the run report and the training health warnings."""

from __future__ import annotations

import json

import cv2

from img2img.cli import main
from img2img.monitor import HealthMonitor
from img2img.report import plot_curves, read_log


def test_demo_writes_page_results_and_curves(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "demo"), "--steps", "2", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    page = tmp_path / "demo" / "index.html"
    assert page.is_file() and "index.html" in out
    html = page.read_text()
    for name in ("input", "output", "target"):
        assert f"_{name}.png" in html
    assert "losses.png" in html and cv2.imread(str(tmp_path / "demo" / "losses.png")) is not None
    results = sorted(p.name for p in (tmp_path / "demo" / "results").iterdir())
    assert len(results) == 6 and all((tmp_path / "demo" / "results" / r).stat().st_size > 0 for r in results)
    assert (tmp_path / "demo" / "run" / "best" / "config.json").is_file()
    assert "PSNR" in out
    # the outputs are the average of the 8 flipped and transposed views, as the page says
    from img2img.infer import Translator
    from img2img_runtime.io import read_image

    assert "self_ensemble=8" in html
    results_dir = tmp_path / "demo" / "results"
    damaged = read_image(results_dir / "china_input.png")
    viewed = Translator.from_pretrained(tmp_path / "demo" / "run", device="cpu", self_ensemble=8)(damaged)
    assert (read_image(results_dir / "china_output.png") == viewed).all()
    plain = Translator.from_pretrained(tmp_path / "demo" / "run", device="cpu")(damaged)
    assert (plain != viewed).any()  # the test would see a demo without the views
    trained_on = {p.name for p in (tmp_path / "demo" / "photos" / "train").iterdir()}
    assert len(trained_on) == 10 + 23 and not trained_on & {"china.png", "motorcycle.png", "china.jpg"}


def test_demo_photos_are_attributed_colour_and_distinct():
    from img2img.data.recipes import has_color
    from img2img.demo import EXTRA_SAMPLES, SAMPLES
    from img2img_runtime.io import list_images, read_image

    held, extra = list_images(SAMPLES), list_images(EXTRA_SAMPLES)
    assert len(held) == 12 and len(extra) == 23
    assert not {p.name for p in held} & {p.name for p in extra}, "an extra photo would replace a sample photo"
    for folder, photos in ((SAMPLES, held), (EXTRA_SAMPLES, extra)):
        attribution = (folder / "ATTRIBUTION.md").read_text()
        for path in photos:
            image = read_image(path)
            assert image.shape == (256, 256, 3) and has_color(image), path
            assert f"`{path.name}`" in attribution, f"{path.name} is not in {folder / 'ATTRIBUTION.md'}"


def test_loss_plot_has_one_panel_per_metric(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text(
        "".join(
            json.dumps(r) + "\n"
            for r in [
                {"step": 1, "lr": 1e-3, "G_L1": 3.0, "D_real": 0.5},
                {"step": 2, "G_L1": 2.0, "D_real": 0.4},
                {"step": 2, "val_psnr": 20.0},
            ]
        )
    )
    series = read_log(log)
    assert series == {"G_L1": [(1, 3.0), (2, 2.0)], "D_real": [(1, 0.5), (2, 0.4)], "val_psnr": [(2, 20.0)]}
    image = cv2.imread(str(plot_curves(series, tmp_path / "curves.png", panel_height=100)))
    assert image.shape[0] == 3 * 100 + 30


def test_health_monitor_warns_once_per_condition():
    monitor = HealthMonitor(d_win_steps=3, collapse_after=10)
    for step in range(5):
        monitor.check_losses({"D_real": 1e-5, "D_fake": 1e-5, "G_gan": 9.0}, step, "vanilla")
    assert len(monitor.warnings) == 1 and "discriminator" in monitor.warnings[0]
    monitor.check_losses({"D_real": 0.3, "D_fake": 0.3}, 6, "vanilla")  # recovery resets the count
    assert monitor._d_small["D"] == 0
    monitor.check_diversity(0.01, step=5)  # too early: a fresh generator is nearly constant
    assert len(monitor.warnings) == 1
    monitor.check_diversity(0.01, step=20)
    monitor.check_diversity(0.01, step=30)
    assert len(monitor.warnings) == 2 and "mode collapse" in monitor.warnings[1]
    monitor.check_diversity(0.5, step=40)
    assert len(monitor.warnings) == 2
    assert [e["condition"] for e in monitor.take_events()] == ["discriminator_won:D", "mode_collapse"]
    assert monitor.take_events() == []


def test_health_monitor_adapts_to_run_length_and_watches_each_discriminator():
    short, long = HealthMonitor(total_steps=200), HealthMonitor(total_steps=10**6)
    assert (short.d_win_steps, short.collapse_after) == (20, 20)
    assert (long.d_win_steps, long.collapse_after) == (500, 1000)
    cyclegan = HealthMonitor(total_steps=400)
    for step in range(25):  # D_A has won, D_B has not: the sum of both would hide it
        cyclegan.check_losses(
            {"D_A_real": 1e-5, "D_A_fake": 1e-5, "D_B_real": 0.4, "D_B_fake": 0.3, "G_AB_gan": 9.0}, step, "lsgan"
        )
    assert len(cyclegan.warnings) == 1 and "discriminator D_A" in cyclegan.warnings[0]
    resumed = HealthMonitor(total_steps=400)
    resumed.load_state_dict(cyclegan.state_dict())
    resumed.check_losses({"D_A_real": 1e-5, "D_A_fake": 1e-5}, 26, "lsgan")
    assert resumed.warnings == cyclegan.warnings and resumed.take_events() == []  # not warned twice after a resume


def test_health_events_reach_the_log_with_a_one_image_val_split(tmp_path, monkeypatch):
    import importlib

    training = importlib.import_module("img2img.training")
    from conftest import TINY_UNET, make_paired

    seen, real = [], training.sample_grid

    def collapsed(task, batch):  # the real grid, reported as collapsed outputs
        seen.append(batch["A"].shape[0])
        return real(task, batch)[0], 0.01

    monkeypatch.setattr(training, "sample_grid", collapsed)
    data = tmp_path / "data"
    make_paired(data / "train", ["a", "b", "c"], size=40)
    make_paired(data / "val", ["v"], size=40)
    training.train(
        "pix2pix",
        data=str(data),
        out=str(tmp_path / "run"),
        steps=24,
        size=32,
        load_size=36,
        num_workers=0,
        progress=False,
        log_every=1,
        sample_every=10,
        val_every=1000,
        checkpoint_every=1000,
        **TINY_UNET,
    )
    assert seen and all(n == 3 for n in seen)  # one val image: the preview takes the training images
    events = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    health = [e for e in events if e.get("event") == "health"]
    assert [e["condition"] for e in health] == ["mode_collapse"] and health[0]["step"] == 20  # 24 steps: judged from 20
