"""Quiet by default: the logs of the libraries underneath (onnx, onnxscript, onnx_ir, torch.onnx,
onnxruntime and its quantization tools, OpenCV) stay off the terminal unless asked for.

:func:`quiet_third_party` is the one switch, called by both command lines (``--verbose`` turns
those logs back on) and by the exporter. Quiet means: their Python loggers (and records they send
to the root logger) show errors only, OpenCV's ``[ WARN:0@...]`` lines from C++ and onnxruntime's
``[W:onnxruntime:...]`` lines are off (errors still show), their Python warnings are ignored, and
the progress prints of onnxruntime's int8 calibrators go nowhere (:func:`third_party_output`).
img2img's own messages (loggers ``img2img.*`` and ``img2img_runtime.*``) are never touched.

Example (Python): ``quiet_third_party(verbose=True)`` before an export shows everything.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from collections.abc import Iterator

# the Python loggers of the libraries underneath (each covers its children)
THIRD_PARTY_LOGGERS = (
    "onnx",
    "onnxscript",
    "onnx_ir",
    "onnxruntime",
    "torch.onnx",
    "torch.export",
    "torch._export",
    "torch._dynamo",
    "torch.fx",
    "neural_compressor",
)
OWN_LOGGERS = ("img2img", "img2img_runtime", "__main__")
_WARNING_MODULES = (
    r"(onnx|onnxscript|onnx_ir|onnxruntime|torch\.onnx|torch\._dynamo|torch\.export|torch\._export)(\.|$)"
)

_verbose: bool | None = None  # None: nobody chose yet (quiet)
_USER_OPENCV_LEVEL = os.environ.get("OPENCV_LOG_LEVEL")  # a level the user set is kept


class _ThirdPartyFilter(logging.Filter):
    """On a handler: records of other libraries pass from ERROR up (also those sent to the root
    logger, as onnxruntime's quantization tools do); img2img's own records all pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.split(".")[0] in OWN_LOGGERS:
            return True
        return bool(_verbose) or record.levelno >= logging.ERROR


_FILTER = _ThirdPartyFilter()


def is_verbose() -> bool:
    """The choice of the last :func:`quiet_third_party` call (False before any)."""
    return bool(_verbose)


def quiet_third_party(verbose: bool | None = None) -> None:
    """Silence (``verbose=False``) or let through (``verbose=True``) the logs of third-party
    libraries; ``None`` keeps the earlier choice (quiet when there was none), so the exporter can
    call it without undoing the command line's ``--verbose``. Safe to call more than once.

    Applies to the loggers of :data:`THIRD_PARTY_LOGGERS` (ERROR when quiet; INFO when verbose,
    except torch's, which keep torch's own levels),
    the handlers of the root logger (a filter drops other libraries' records below ERROR), OpenCV's
    C++ log (ERROR when quiet, its default WARNING when verbose; ``OPENCV_LOG_LEVEL`` too, for
    processes started later; a level the user set in ``OPENCV_LOG_LEVEL`` is kept),
    onnxruntime's default logger severity (3 = errors when quiet, 2 = warnings, its default, when
    verbose) and Python warnings issued by those libraries.
    """
    global _verbose
    if verbose is not None:
        _verbose = bool(verbose)
    loud = bool(_verbose)
    for name in THIRD_PARTY_LOGGERS:  # verbose: torch's loggers keep torch's own levels (INFO is thousands of lines)
        logging.getLogger(name).setLevel(
            logging.ERROR if not loud else logging.NOTSET if name.startswith("torch") else logging.INFO
        )
    for handler in logging.getLogger().handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)  # consults _verbose: nothing to remove when verbose
    if not loud:
        warnings.filterwarnings("ignore", module=_WARNING_MODULES)
    if _USER_OPENCV_LEVEL is None:
        os.environ["OPENCV_LOG_LEVEL"] = "WARNING" if loud else "ERROR"
        _set_opencv(loud)
    _set_onnxruntime(loud)


def _set_opencv(loud: bool) -> None:
    try:
        import cv2
    except ImportError:  # pragma: no cover - the runtime requires OpenCV
        return
    level_names = ("LOG_LEVEL_WARNING", 3) if loud else ("LOG_LEVEL_ERROR", 2)  # WARNING: OpenCV's default
    try:
        from cv2.utils import logging as cv_logging

        cv_logging.setLogLevel(getattr(cv_logging, level_names[0], level_names[1]))
    except (ImportError, AttributeError):
        setter = getattr(cv2, "setLogLevel", None)
        if setter is not None:
            setter(level_names[1])


def _set_onnxruntime(loud: bool) -> None:
    try:
        import onnxruntime as ort
    except ImportError:  # pragma: no cover - torch-side commands without onnxruntime installed
        return
    ort.set_default_logger_severity(2 if loud else 3)


@contextlib.contextmanager
def third_party_output() -> Iterator[None]:
    """Inside, ``print`` output (``sys.stdout``) goes nowhere unless verbose: for library calls
    that report their progress with ``print`` (onnxruntime's calibrators)."""
    if _verbose:
        yield
        return
    with contextlib.redirect_stdout(io.StringIO()):
        yield


__all__ = ["quiet_third_party", "third_party_output", "is_verbose", "THIRD_PARTY_LOGGERS"]
