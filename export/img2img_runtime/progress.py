"""One labelled progress bar for every long operation (prepare, eval, int8 calibration, folder jobs).

:class:`Progress` draws a tqdm bar with its label, rate and ETA when tqdm is installed (img2img
installs it; the runtime does not require it), else a plain ``label: done/total`` counter on
stderr, or nothing when disabled. It is a context manager and closes itself once.

Example:
    >>> with Progress(len(paths), "prepare restore", unit="photo") as bar:
    ...     for path in paths:
    ...         work(path)
    ...         bar.update()
"""

from __future__ import annotations

import sys
from typing import Any


class Progress:
    """A labelled progress bar (see the module docstring).

    Args:
        total: the number of units, or None when unknown (no ETA then).
        desc: the label, e.g. ``"eval restore"``.
        unit: what is counted (``"img"``, ``"photo"``, ``"batch"``).
        enabled: False draws nothing.
    """

    def __init__(self, total: int | None, desc: str, *, unit: str = "img", enabled: bool = True) -> None:
        self.total, self.desc, self.unit = total, desc, unit
        self.done = 0.0
        self._bar: Any = None
        self._plain = False
        self._closed = not enabled
        if not enabled:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            self._plain = True
            return
        self._bar = tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True)

    def update(self, n: float = 1) -> None:
        """``n`` more units done."""
        if self._closed:
            return
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
        elif self._plain:
            total = "" if self.total is None else f"/{self.total}"
            print(f"\r{self.desc}: {self.done:g}{total} {self.unit}", end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._bar is not None:
            self._bar.close()
        elif self._plain:
            print(file=sys.stderr, flush=True)

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
