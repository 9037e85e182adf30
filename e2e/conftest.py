"""The real stack, started the way `nox -s up` starts it, on free ports and a fresh data folder."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest
from otlp_receiver import OtlpReceiver

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Stack:
    """A running stack: where to reach it and what it printed."""

    process: subprocess.Popen[bytes]
    gateway_url: str
    data_dir: Path
    log_path: Path
    pids: set[int] = field(default_factory=set)
    # process name -> its Prometheus /metrics port ("gateway", "grpc", "worker", "scheduler")
    metrics_ports: dict[str, int] = field(default_factory=dict)
    # every span the processes exported (OTLP over HTTP to a receiver in this test process)
    traces: OtlpReceiver | None = None

    @property
    def graphql_url(self) -> str:
        return f"{self.gateway_url}/graphql"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def lines_of(self, process_name: str) -> list[str]:
        """Output lines of one process (honcho prefixes each line with the process name)."""
        # "05:17:57 grpc      | {...}": time, name padded, bar, the process's own line
        return [
            line
            for line in self.log().splitlines()
            if line[9:].split("|", 1)[0].strip() == process_name
        ]

    def json_lines_of(self, process_name: str) -> list[dict[str, Any]]:
        """The JSON log records of one process (lines that are not JSON are skipped)."""
        found = []
        for line in self.lines_of(process_name):
            _, _, body = line.partition("| ")
            try:
                found.append(json.loads(body))
            except ValueError:
                continue
        return found

    def remember_pids(self) -> None:
        try:
            children = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return
        self.pids.update(child.pid for child in children)


def _wait_ready(stack: Stack, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stack.process.poll() is not None:
            raise AssertionError(f"the stack exited early:\n{stack.log()[-5000:]}")
        try:
            with urllib.request.urlopen(f"{stack.gateway_url}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)  # polling interval
    raise AssertionError(f"the stack was not ready in {timeout}s:\n{stack.log()[-5000:]}")


@pytest.fixture(scope="session")
def otlp_receiver() -> Iterator[OtlpReceiver]:
    """An OTLP/HTTP trace receiver on a free port (what a collector would be in production)."""
    receiver = OtlpReceiver()
    try:
        yield receiver
    finally:
        receiver.stop()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, otlp_receiver: OtlpReceiver) -> Iterator[Stack]:
    data_dir = tmp_path_factory.mktemp("stack-data")
    log_path = data_dir / "stack.log"
    gateway_port = _free_port()
    metrics_ports = {name: _free_port() for name in ("gateway", "grpc", "worker", "scheduler")}
    env = {
        **os.environ,
        "GATEWAY_PORT": str(gateway_port),
        "USER_SERVICE_GRPC_PORT": str(_free_port()),
        "STACK_SMTP_PORT": str(_free_port()),
        "USER_SERVICE_LOG_FORMAT": "json",
        "GATEWAY_LOG_FORMAT": "json",
        "PYTHONUNBUFFERED": "1",
        # tracing: every process exports its spans to the receiver, within 0.2 s
        "USER_SERVICE_OTEL_EXPORTER": "otlp-http",
        "GATEWAY_OTEL_EXPORTER": "otlp-http",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": otlp_receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        # metrics: one /metrics port per process
        "GATEWAY_METRICS_PORT": str(metrics_ports["gateway"]),
        "STACK_GRPC_METRICS_PORT": str(metrics_ports["grpc"]),
        "STACK_WORKER_METRICS_PORT": str(metrics_ports["worker"]),
        "STACK_SCHEDULER_METRICS_PORT": str(metrics_ports["scheduler"]),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "deploy" / "local" / "run_stack.py"),
                "--data-dir",
                str(data_dir),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
            start_new_session=True,
        )
    stack = Stack(
        process,
        f"http://127.0.0.1:{gateway_port}",
        data_dir,
        log_path,
        metrics_ports=metrics_ports,
        traces=otlp_receiver,
    )
    try:
        _wait_ready(stack, timeout=90)
        stack.remember_pids()
        yield stack
    finally:
        stack.remember_pids()
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # what Ctrl-C does
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                raise AssertionError("the stack did not stop within 30 s of SIGINT") from None
