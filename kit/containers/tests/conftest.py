"""The harness's modules (containers/*.py) are scripts, not a package: import them from their folder."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
