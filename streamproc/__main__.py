"""``python -m streamproc`` is the ``streamproc`` command."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
