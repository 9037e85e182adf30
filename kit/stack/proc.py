"""One process of the stack: started in its own process group with its output in its own log file,
and killed, stopped or restarted with the same command.

A SIGKILL goes to the whole group, so nothing the process started is left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kit.stack.poll import Exited
from kit.stack.product import ROOT


@dataclass
class Proc:
    """A process started from ``argv`` with ``env``; restartable with :meth:`start`."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> Proc:
        """Start (again); the output is appended to the log file after a ``--- start #N`` line."""
        with self.log_path.open("ab") as log:
            log.write(f"--- start #{self.starts + 1}: {' '.join(self.argv)}\n".encode())
            log.flush()
            self.popen = subprocess.Popen(
                self.argv,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                start_new_session=True,
            )
        self.starts += 1
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None, f"{self.name} never started"
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def check_alive(self) -> None:
        """Raise :class:`Exited` (with the log's tail) if the process has exited."""
        if not self.alive:
            raise Exited(f"{self.name} exited:\n{self.text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the whole process group (the process and any children) and reap it."""
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        """Send ``sig`` to the process; its exit status. SIGKILL of the group and AssertionError
        when it is still running after ``timeout`` seconds."""
        assert self.popen is not None, f"{self.name} never started"
        if self.popen.poll() is not None:
            return self.popen.returncode
        self.popen.send_signal(sig)
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"{self.name} ignored {signal.Signals(sig).name} for {timeout}s"
            ) from None

    def terminate(self, timeout: float = 20.0) -> int:
        """SIGTERM, as a supervisor stops a replica; the exit status."""
        return self.stop(signal.SIGTERM, timeout)

    def text(self) -> str:
        """Everything the process wrote, every start."""
        return self.log_path.read_text(errors="replace")

    def since_last_start(self) -> str:
        """What the process wrote since its latest start."""
        return self.text().split(f"--- start #{self.starts}:")[-1]

    def records(self) -> list[dict[str, Any]]:
        """The JSON log lines of the process (other lines skipped)."""
        found = []
        for line in self.text().splitlines():
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    found.append(json.loads(line))
        return found

    def rss(self) -> int:
        """Resident memory of the process and its children, in bytes."""
        import psutil

        process = psutil.Process(self.pid)
        total = int(process.memory_info().rss)
        for child in process.children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess):
                total += int(child.memory_info().rss)
        return total
