"""``python -m revive.train`` (and ``torchrun -m revive.train``) is ``revive-train``."""

import sys

from .cli import main

sys.exit(main())
