"""deploy/checks/ on sys.path: the tests import the check scripts and container_rules as modules."""

from __future__ import annotations

import sys
from pathlib import Path

CHECKS = Path(__file__).resolve().parents[1] / "checks"
if str(CHECKS) not in sys.path:
    sys.path.insert(0, str(CHECKS))
