"""``python -m daktela_async.sim``: run the simulated PBX server."""

from __future__ import annotations

import sys

from ._cli import main

sys.exit(main())
