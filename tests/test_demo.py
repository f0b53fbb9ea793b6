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


def test_loss_plot_has_one_panel_per_metric(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in [
        {"step": 1, "lr": 1e-3, "G_L1": 3.0, "D_real": 0.5}, {"step": 2, "G_L1": 2.0, "D_real": 0.4}, {"step": 2, "val_psnr": 20.0}]))
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
    assert monitor._d_small == 0
    monitor.check_diversity(0.01, step=5)  # too early: a fresh generator is nearly constant
    assert len(monitor.warnings) == 1
    monitor.check_diversity(0.01, step=20)
    monitor.check_diversity(0.01, step=30)
    assert len(monitor.warnings) == 2 and "mode collapse" in monitor.warnings[1]
    monitor.check_diversity(0.5, step=40)
    assert len(monitor.warnings) == 2
