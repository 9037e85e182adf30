"""The real stack: started the way `nox -s up` starts it, on free ports and a fresh data folder, or
a compose project that is already up (``E2E_STACK=compose``, see stacks.py).

Tests that look inside the local processes (their pids, metrics ports, traces, the launcher
itself) are marked ``local_stack`` and skipped against compose.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest
from otlp_receiver import OtlpReceiver
from stacks import ComposeStack, LocalStack, Stack

__all__ = ["ROOT", "ComposeStack", "LocalStack", "Stack", "started_stack"]

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(stack: LocalStack, timeout: float) -> None:
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


def _compose_mode() -> bool:
    return os.environ.get("E2E_STACK", "local") == "compose"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "local_stack: needs the stack started here (its processes, ports, traces)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if _compose_mode():
        skip = pytest.mark.skip(
            reason="looks inside the local stack's processes (E2E_STACK=compose)"
        )
        for item in items:
            if item.get_closest_marker("local_stack"):
                item.add_marker(skip)


@pytest.fixture(scope="session")
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    """The stack under test: compose when ``E2E_STACK=compose``, else one started here."""
    if _compose_mode():
        yield ComposeStack.from_environment()
        return
    yield request.getfixturevalue("local_stack")


@contextmanager
def started_stack(
    data_dir: Path,
    *,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    stop_timeout: float = 30,
) -> Iterator[LocalStack]:
    """run_stack.py on free ports and ``data_dir``, ready; stopped by SIGINT (Ctrl-C) at the end.

    The stack must stop within ``stop_timeout`` seconds of SIGINT, or the test fails.
    """
    log_path = data_dir / "stack.log"
    gateway_port = _free_port()
    metrics_ports = {name: _free_port() for name in ("gateway", "grpc", "worker", "scheduler")}
    process_env = {
        **os.environ,
        "GATEWAY_PORT": str(gateway_port),
        "USER_SERVICE_GRPC_PORT": str(_free_port()),
        "STACK_SMTP_PORT": str(_free_port()),
        "PYTHONUNBUFFERED": "1",
        # metrics: one /metrics port per process
        "GATEWAY_METRICS_PORT": str(metrics_ports["gateway"]),
        "STACK_GRPC_METRICS_PORT": str(metrics_ports["grpc"]),
        "STACK_WORKER_METRICS_PORT": str(metrics_ports["worker"]),
        "STACK_SCHEDULER_METRICS_PORT": str(metrics_ports["scheduler"]),
        **(env or {}),
    }
    for name in ("PROMETHEUS_MULTIPROC_DIR", "DATABASE_URL", "REDIS_URL"):
        process_env.pop(name, None)
    command = [
        sys.executable, str(ROOT / "deploy" / "local" / "run_stack.py"),
        "--data-dir", str(data_dir), *args,
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=process_env, cwd=ROOT,
            start_new_session=True,
        )  # fmt: skip
    stack = LocalStack(
        process, f"http://127.0.0.1:{gateway_port}", data_dir, log_path, metrics_ports=metrics_ports
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
                process.wait(timeout=stop_timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                raise AssertionError(
                    f"the stack did not stop within {stop_timeout} s of SIGINT"
                ) from None


@pytest.fixture(scope="session")
def local_stack(
    tmp_path_factory: pytest.TempPathFactory, otlp_receiver: OtlpReceiver
) -> Iterator[LocalStack]:
    env = {
        "USER_SERVICE_LOG_FORMAT": "json",
        "GATEWAY_LOG_FORMAT": "json",
        # tracing: every process exports its spans to the receiver, within 0.2 s
        "USER_SERVICE_OTEL_EXPORTER": "otlp-http",
        "GATEWAY_OTEL_EXPORTER": "otlp-http",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": otlp_receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }
    with started_stack(tmp_path_factory.mktemp("stack-data"), env=env) as stack:
        stack.traces = otlp_receiver
        yield stack
