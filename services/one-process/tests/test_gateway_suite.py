"""The gateway's own suite, unchanged, against the user-service served in the test process.

The gateway's conftest takes the user-service from this package's pytest plugin
(``one_process.testing``) when ``USER_SERVICE_MODE=inprocess``: every GraphQL test then goes
through the in-process channel instead of a gRPC socket. The suite runs in a pytest of its own,
in the gateway's folder, with the gateway's own configuration.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

GATEWAY = Path(__file__).resolve().parents[2] / "gateway-graphql"


@pytest.mark.timeout(1800)
def test_the_gateway_suite_passes_with_the_user_service_in_process(tmp_path: Path) -> None:
    if not (GATEWAY / "tests" / "conftest.py").is_file():
        pytest.skip(f"the gateway's suite is not next to this package ({GATEWAY})")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "--basetemp", str(tmp_path / "gateway")],
        cwd=GATEWAY,
        env={**os.environ, "USER_SERVICE_MODE": "inprocess"},
        capture_output=True,
        text=True,
        timeout=1750,
        check=False,
    )  # fmt: skip
    summary = result.stdout.strip().splitlines()[-1:] or ["(no output)"]
    print(f"gateway suite, user-service in process: {summary[0]}")
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
    assert " passed" in summary[0]
