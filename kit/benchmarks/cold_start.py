"""Cold start: ``user-service --help`` and ``gateway --help`` (median of 3, next to a bare
interpreter; target < 0.5 s), and the largest contributors of ``python -X importtime`` of the
libraries and of each service's command-line module."""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness import Results, Target


def _time_command(command: list[str], rounds: int = 3) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def bench_cold_start(results: Results) -> None:
    bindir = Path(sys.executable).parent
    for name in ("user-service", "gateway"):
        seconds = _time_command([str(bindir / name), "--help"])
        results.targets.append(
            Target(
                f"`{name} --help`",
                f"{seconds * 1000:.0f} ms (median of 3)",
                f"bare interpreter {_time_command([sys.executable, '-c', 'pass']) * 1000:.0f} ms",
                "< 0.5 s",
                seconds < 0.5,
            )
        )
    results.figures["importtime"] = {
        stmt: importtime(stmt)
        for stmt in (
            "import alvin_python_lib, alvin_grpc, alvin_protos",
            "import user_service.commands",
            "import gateway_graphql.commands",
        )
    }


def importtime(statement: str) -> dict[str, Any]:
    """``-X importtime`` of ``statement``: total, and the largest imports two levels deep."""
    command = [sys.executable, "-X", "importtime", "-c", statement]
    stderr = subprocess.run(command, capture_output=True, text=True, check=True).stderr
    rows = []
    for line in stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if match:
            depth = (len(match.group(3)) - 1) // 2
            rows.append((int(match.group(2)), int(match.group(1)), depth, match.group(4)))
    total = sum(r[0] for r in rows if r[2] == 0) / 1000
    top = sorted((r for r in rows if r[2] <= 1), reverse=True)[:10]
    return {
        "total_ms": total,
        "top": [
            {"module": "  " * r[2] + r[3], "cumulative_ms": r[0] / 1000, "self_ms": r[1] / 1000}
            for r in top
        ],
    }
