"""Memory: the peak resident memory (VmHWM) of each stack process, read after everything else."""

from __future__ import annotations

import re
from pathlib import Path

from harness import Results, Stack


def bench_memory(stack: Stack, results: Results) -> None:
    """Peak resident memory (VmHWM) of each stack process, read after the load."""
    import psutil

    rows = []
    for child in stack.children():
        try:
            status = Path(f"/proc/{child.pid}/status").read_text()
            peak = re.search(r"VmHWM:\s+(\d+) kB", status)
            command = " ".join(child.cmdline()[1:4])[:60]
        except (OSError, psutil.Error):
            continue
        if peak and any(name in command for name in ("user-service", "gunicorn", "gateway serve")):
            rows.append((int(peak.group(1)) / 1024, child.pid, command))
    for mib, pid, command in sorted(rows, reverse=True):
        results.info.append((f"peak RSS pid {pid}", f"{mib:.0f} MiB  {command}"))
