"""img2img: image-to-image translation with GANs (pix2pix, CycleGAN, SRGAN).

Example:
    >>> import img2img
    >>> result = img2img.train("pix2pix", data="data/facades", out="runs/facades", steps=20_000)
    >>> translator = img2img.Translator.from_pretrained("runs/facades")
    >>> photo = translator("labels/0001.png")
"""

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:  # for type checkers and editors; at run time the names below load on first use
    from .config import TrainConfig
    from .evaluate import EvalReport, evaluate_model
    from .infer import Translator
    from .training import TrainResult, train

# The public names load on first use (PEP 562): `import img2img` and the CLI's --help and argument
# errors do not wait for torch, kornia or OpenCV. The training loop is the module `img2img.training`;
# `img2img.train` is its function (no module of that name hides it).
_LAZY = {
    "TrainConfig": ".config",
    "EvalReport": ".evaluate",
    "evaluate_model": ".evaluate",
    "Translator": ".infer",
    "TrainResult": ".training",
    "train": ".training",
}

__all__ = ["EvalReport", "TrainConfig", "TrainResult", "Translator", "__version__", "evaluate_model", "train"]


# The modules README names as the API of their parts load on first use too (`img2img.sampling.sample_grid`
# after a plain `import img2img`)
_SUBMODULES = ("classifier", "export", "losses", "metrics", "nets", "quantize", "sampling", "tasks")


def __getattr__(name: str):  # noqa: ANN202 - PEP 562
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)  # importing sets the attribute
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_SUBMODULES))
