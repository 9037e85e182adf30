"""What the noxfile needs besides its sessions: packages found on disk, local installs, tool pins
and the few checks too long to read inline. Each session in ``noxfile.py`` stays a few lines."""

from __future__ import annotations

import os

# The interpreter every session uses; None: the one that runs nox.
PYTHON = os.environ.get("NOX_PYTHON") or None
