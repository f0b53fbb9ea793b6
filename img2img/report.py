"""Human-readable reports of a run: loss curves as a PNG (drawn with OpenCV) and an HTML page."""

from __future__ import annotations

import html
import os
from pathlib import Path

import cv2
import numpy as np

from img2img_runtime.io import write_image

_COLORS = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
]


def read_log(path: str | os.PathLike) -> dict[str, list[tuple[int, float]]]:
    """``RUN/log.jsonl`` -> ``{metric: [(step, value), ...]}`` (non-numeric fields dropped).

    Read with :func:`img2img.checkpoint.read_jsonl`: a torn last line (a killed write) is ignored
    with a warning, a damaged line elsewhere raises ``LogFormatError`` naming the file and line.
    """
    from .checkpoint import read_jsonl

    series: dict[str, list[tuple[int, float]]] = {}
    for record in read_jsonl(path):
        for key, value in record.items():
            if key in ("step", "lr", "s_per_step") or not isinstance(value, (int, float)):
                continue
            series.setdefault(key, []).append((int(record["step"]), float(value)))
    return series


def plot_curves(
    series: dict[str, list[tuple[int, float]]], out: str | os.PathLike, *, width: int = 900, panel_height: int = 140
) -> Path:
    """One small panel per metric (its own y range), steps on x; written as PNG."""
    names = sorted(series, key=lambda k: (k.startswith("val"), k))
    canvas = np.full((max(1, len(names)) * panel_height + 30, width, 3), 255, np.uint8)
    left, right = 80, width - 20
    max_step = max((s for values in series.values() for s, _ in values), default=1)
    for row, name in enumerate(names):
        values = [(s, v) for s, v in series[name] if np.isfinite(v)]
        top, bottom = row * panel_height + 20, (row + 1) * panel_height - 10
        cv2.rectangle(canvas, (left, top), (right, bottom), (200, 200, 200), 1)
        if not values:
            continue
        lo, hi = min(v for _, v in values), max(v for _, v in values)
        hi = hi if hi > lo else lo + 1.0
        points = np.array(
            [
                [left + (right - left) * s / max(max_step, 1), bottom - (bottom - top) * (v - lo) / (hi - lo)]
                for s, v in values
            ]
        )
        color = _COLORS[row % len(_COLORS)]  # the canvas is RGB, as write_image expects
        cv2.polylines(canvas, [points.astype(np.int32).reshape(-1, 1, 2)], False, color, 2, cv2.LINE_AA)
        if len(points) <= 40:  # sparse series (validation): mark the points
            for x, y in points.astype(np.int32):
                cv2.circle(canvas, (int(x), int(y)), 3, color, -1, cv2.LINE_AA)
        cv2.putText(canvas, name, (left + 8, top + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(canvas, f"{hi:.3g}", (4, top + 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (80, 80, 80), 1, cv2.LINE_AA)
        cv2.putText(canvas, f"{lo:.3g}", (4, bottom), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (80, 80, 80), 1, cv2.LINE_AA)
    cv2.putText(
        canvas,
        f"step 0 .. {max_step}",
        (left, canvas.shape[0] - 6),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.45,
        (80, 80, 80),
        1,
        cv2.LINE_AA,
    )
    write_image(out, canvas)
    return Path(out)


def write_html(
    out: str | os.PathLike, *, title: str, rows: list[dict[str, str]], images: list[str], notes: list[str]
) -> Path:
    """A self-contained page: notes, a table of ``input | output | target`` rows and extra images.

    ``rows`` hold image paths relative to the page under keys ``name``, ``input``, ``output``,
    ``target`` and an optional ``caption``.
    """
    esc = html.escape
    parts = [
        f"<!doctype html><meta charset='utf-8'><title>{esc(title)}</title>",
        "<style>body{font-family:sans-serif;margin:2em}img{max-width:100%}td{vertical-align:top;padding:4px}</style>",
        f"<h1>{esc(title)}</h1>",
        *[f"<p>{esc(n)}</p>" for n in notes],
        "<table><tr><th></th><th>input</th><th>output</th><th>target</th></tr>",
    ]
    for row in rows:
        cells = "".join(f"<td><img src='{esc(row[k])}' width='256'></td>" for k in ("input", "output", "target"))
        parts.append(f"<tr><td>{esc(row['name'])}<br><small>{esc(row.get('caption', ''))}</small></td>{cells}</tr>")
    parts.append("</table>")
    parts += [f"<p><img src='{esc(src)}'></p>" for src in images]
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts) + "\n")
    return path
