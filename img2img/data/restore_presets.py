"""The names of the old-photo damage presets, without importing OpenCV.

:mod:`img2img.data.degrade` defines them (``PRESETS``, its ``_PRESET_STEPS``); the CLI lists them
as ``--preset`` choices from here, so that building its parser loads nothing heavy.
"""

from __future__ import annotations

RESTORE_PRESETS = ("light", "medium", "heavy", "varied")
