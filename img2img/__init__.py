"""img2img: image-to-image translation with GANs (pix2pix, CycleGAN, SRGAN).

Example:
    >>> import img2img
    >>> result = img2img.train("pix2pix", data="data/facades", out="runs/facades", steps=20_000)
    >>> translator = img2img.Translator.from_pretrained("runs/facades")
    >>> photo = translator("labels/0001.png")
"""

__version__ = "0.1.0"

# Imported eagerly on purpose: binding the function `train` here, after the submodule
# `img2img.train` is loaded, keeps `img2img.train(...)` the function for every later import.
from .config import TrainConfig  # noqa: E402
from .evaluate import EvalReport, evaluate_model  # noqa: E402
from .infer import Translator  # noqa: E402
from .train import TrainResult, train  # noqa: E402

__all__ = ["EvalReport", "TrainConfig", "TrainResult", "Translator", "__version__", "evaluate_model", "train"]
