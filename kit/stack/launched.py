"""The whole stack started the way ``nox -s up`` starts it: deploy/local/run_stack.py on free
ports and a fresh data folder (embedded PostgreSQL and Redis inside), for the e2e suite and the
benchmarks.

Ready when the gateway's ``/readyz`` answers 200 and the gRPC server SERVING; stopped by SIGINT,
what Ctrl-C sends, and it must stop within its deadline.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from kit.stack import product
from kit.stack.poll import Exited, free_port, grpc_health, http_ok, wait_for

# Each process that serves /metrics: one port each on one machine (run_stack.py's settings).
METRICS_SETTINGS = {
    "gateway": "GATEWAY_METRICS_PORT",
    "grpc": "STACK_GRPC_METRICS_PORT",
    "worker": "STACK_WORKER_METRICS_PORT",
    "scheduler": "STACK_SCHEDULER_METRICS_PORT",
}
# Settings of the caller that would point the stack elsewhere than its own data folder.
DROPPED = ("PROMETHEUS_MULTIPROC_DIR", "DATABASE_URL", "REDIS_URL")
S = TypeVar("S", bound="LaunchedStack")


def json_records(lines: Sequence[str]) -> list[dict[str, Any]]:
    """The lines that are JSON objects, parsed (the others skipped)."""
    found = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            found.append(record)
    return found


@dataclass
class LaunchedStack:
    """run_stack.py running: where it listens, its log and its processes."""

    process: subprocess.Popen[bytes]
    gateway_url: str
    grpc_target: str
    data_dir: Path
    log_path: Path
    env: dict[str, str]  # what run_stack.py was started with
    pids: set[int] = field(default_factory=set)
    # process name -> its Prometheus /metrics port ("gateway", "grpc", "worker", "scheduler")
    metrics_ports: dict[str, int] = field(default_factory=dict)

    @property
    def mail_dir(self) -> Path:
        """Where the SMTP catcher saves every message."""
        return Path(self.service_env()["STACK_MAIL_DIR"])

    def service_env(self) -> dict[str, str]:
        """The processes' environment as run_stack.py builds it (without the database URLs of
        the embedded servers it starts: :meth:`environ_of` reads those)."""
        placed = {**self.env, "DATABASE_URL": "", "REDIS_URL": ""}
        return product.service_env(placed, self.data_dir, self.env)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def lines_of(self, process_name: str) -> list[str]:
        """Output lines of one process (honcho prefixes each line with the process name); in
        one-process topology "gateway" and "grpc" are both the ``app`` process."""
        name = product.process_for(process_name, self.env)
        # "05:17:57 grpc      | {...}": time, name padded, bar, the process's own line
        return [
            line for line in self.log().splitlines() if line[9:].split("|", 1)[0].strip() == name
        ]

    def json_lines_of(self, process_name: str) -> list[dict[str, Any]]:
        """The JSON log records of one process: "gateway", "grpc", "worker" or "scheduler"."""
        return json_records([line.partition("| ")[2] for line in self.lines_of(process_name)])

    def children(self) -> list[Any]:
        """Every process run_stack.py started (psutil.Process), gone ones left out."""
        import psutil

        try:
            return list(psutil.Process(self.process.pid).children(recursive=True))
        except psutil.NoSuchProcess:
            return []

    def remember_pids(self) -> None:
        """Add the current children to :attr:`pids` (to check later that none is left)."""
        self.pids.update(child.pid for child in self.children())

    def processes_of(self, name: str) -> list[Any]:
        """The processes that run process ``name`` of the table: the one honcho started for it
        and its descendants (psutil.Process)."""
        import psutil

        env = self.service_env()
        command = product.command(product.process_for(name, env), env)
        found: list[Any] = []
        for child in self.children():
            try:
                cmdline = child.cmdline()
                if _runs(cmdline, command) and child.pid not in {p.pid for p in found}:
                    found += [child, *child.children(recursive=True)]
            except psutil.Error:
                continue
        return found

    def wait_until(self, what: str, check: Callable[[], bool], timeout: float) -> None:
        """Poll ``check`` while the stack runs; the log's tail in the error when the stack
        exits (at once) or the deadline passes."""

        def checked() -> bool:
            if self.process.poll() is not None:
                raise Exited(f"the stack exited:\n{self.log()[-5000:]}")
            return check()

        try:
            wait_for(what, checked, timeout, interval=0.2)
        except Exited:
            raise
        except AssertionError as error:
            raise AssertionError(f"{error}\n{self.log()[-5000:]}") from None

    def environ_of(self, name: str) -> dict[str, str]:
        """The environment process ``name`` runs with (every setting, as the process sees it)."""
        for proc in self.processes_of(name):
            return dict(proc.environ())
        raise RuntimeError(f"the stack's {name} process was not found")


def _runs(cmdline: list[str], command: list[str]) -> bool:
    """Whether ``cmdline`` is ``command``: run by a shell (``sh -c "..."``), or its console
    script run by an interpreter."""
    if cmdline[-1:] == [" ".join(command)] and "-c" in cmdline:
        return True
    tail = len(command) - 1
    return (
        len(cmdline) > tail
        and cmdline[len(cmdline) - tail :] == command[1:]
        and Path(cmdline[len(cmdline) - tail - 1]).name == command[0]
    )


@contextmanager
def started_stack(
    data_dir: Path,
    *,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    seed: int = 0,
    log_path: Path | None = None,
    metrics: bool = True,
    ready_timeout: float = 90,
    stop_timeout: float = 30,
    kind: type[S] = LaunchedStack,  # type: ignore[assignment]
) -> Iterator[S]:
    """run_stack.py on free ports and ``data_dir`` (``--seed`` users, ``args`` added), ready.

    ``env`` goes over this process's environment; with ``metrics`` each process serves /metrics on
    a port of its own. The log goes to ``log_path`` (default ``data_dir/stack.log``). At the end
    SIGINT (Ctrl-C) stops it; still running ``stop_timeout`` seconds later is an AssertionError.
    ``kind``: the class of the answer (a suite's own subclass of :class:`LaunchedStack`).
    """
    log_path = log_path or data_dir / "stack.log"
    gateway_port, grpc_port = free_port(), free_port()
    metrics_ports = {name: free_port() for name in METRICS_SETTINGS} if metrics else {}
    if metrics and product.one_process({**os.environ, **(env or {})}):
        # one process serves both services' series on the gateway's /metrics
        metrics_ports["grpc"] = metrics_ports["gateway"]
    given = {
        **os.environ,
        "GATEWAY_PORT": str(gateway_port),
        "USER_SERVICE_GRPC_PORT": str(grpc_port),
        "STACK_SMTP_PORT": str(free_port()),
        "PYTHONUNBUFFERED": "1",
        **{METRICS_SETTINGS[name]: str(port) for name, port in metrics_ports.items()},
        **(env or {}),
    }
    for name in DROPPED:
        given.pop(name, None)
    seeded = ["--seed", str(seed)] if seed else []
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            product.launcher_command(data_dir, *seeded, *args),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=given,
            cwd=product.ROOT,
            start_new_session=True,
        )
    stack = kind(
        process,
        f"http://127.0.0.1:{gateway_port}",
        f"127.0.0.1:{grpc_port}",
        data_dir,
        log_path,
        given,
        metrics_ports=metrics_ports,
    )
    try:
        wait_ready(stack, ready_timeout)
        stack.remember_pids()
        yield stack
    finally:
        stack.remember_pids()
        stop(stack, stop_timeout)


def wait_ready(stack: LaunchedStack, timeout: float) -> None:
    """Poll the gateway's /readyz and the gRPC health check until both pass (one process: its
    /readyz checks the in-process user-service's health)."""
    grpc_port = not product.one_process(stack.env)
    stack.wait_until(
        "the stack ready",
        lambda: (
            http_ok(f"{stack.gateway_url}/readyz")
            and (not grpc_port or grpc_health(stack.grpc_target) == "SERVING")
        ),
        timeout,
    )


def stop(stack: LaunchedStack, timeout: float) -> None:
    """SIGINT, as Ctrl-C; SIGKILL of the group and AssertionError if still running at ``timeout``."""
    process = stack.process
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise AssertionError(f"the stack did not stop within {timeout} s of SIGINT") from None
