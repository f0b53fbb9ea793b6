"""``python -m img2img`` is the ``img2img`` command."""

import sys

from .cli import main

sys.exit(main())
