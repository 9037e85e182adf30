"""The facts talk to the compose stack through the e2e suite's own ComposeStack (e2e/stacks.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "e2e"))
