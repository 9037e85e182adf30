import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def pytest_configure(config: pytest.Config) -> None:
    """The ``slow`` marker: tests that run nox in a copy of the kit (test_makeityours.py)."""
    config.addinivalue_line(
        "markers", "slow: runs nox sessions in a temporary copy of the kit (minutes)"
    )
