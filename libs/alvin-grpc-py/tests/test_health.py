"""HealthChecks drive the health service; the alvin-grpc-health probe's exit status."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from click.testing import CliRunner
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_test_service import SERVICE_NAME, Handlers, wait_until

from alvin_grpc.health import HealthChecks, main, probe

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def _status(channel: grpc.Channel, service: str = "") -> int:
    reply = health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=service), timeout=5
    )
    return int(reply.status)


class Switch:
    def __init__(self) -> None:
        self.up = True

    def __call__(self) -> bool:
        return self.up


def test_checks_flip_services_between_serving_and_not_serving(
    grpc_server_factory: Any, handlers: Handlers
) -> None:
    database, mailer = Switch(), Switch()
    checks = HealthChecks(interval=60, timeout=2)  # run_once() drives this test
    checks.add("postgres", database)
    checks.add("smtp", mailer, services=["alvin.test.v1.Mail"])
    with pytest.raises(ValueError, match="already registered"):
        checks.add("postgres", database)

    server, channel = grpc_server_factory([handlers.registration()], health_checks=checks)
    assert checks.results == {"postgres": True, "smtp": True}
    assert _status(channel) == SERVING
    assert _status(channel, SERVICE_NAME) == SERVING

    mailer.up = False  # only concerns another service, but the overall status too
    assert checks.run_once() == {"postgres": True, "smtp": False}
    assert _status(channel, SERVICE_NAME) == SERVING
    assert _status(channel) == NOT_SERVING

    database.up = False
    checks.run_once()
    assert _status(channel, SERVICE_NAME) == NOT_SERVING

    database.up = mailer.up = True
    checks.run_once()
    assert _status(channel, SERVICE_NAME) == SERVING
    assert _status(channel) == SERVING

    server.enter_graceful_shutdown()  # wins over the checks from now on
    checks.run_once()
    assert _status(channel, SERVICE_NAME) == NOT_SERVING


@pytest.mark.timeout(30)
def test_background_thread_runs_the_checks(grpc_server_factory: Any, handlers: Handlers) -> None:
    database = Switch()
    checks = HealthChecks(interval=0.05, timeout=1)
    checks.add("postgres", database)
    _, channel = grpc_server_factory([handlers.registration()], health_checks=checks)
    assert _status(channel, SERVICE_NAME) == SERVING
    database.up = False
    assert wait_until(lambda: _status(channel, SERVICE_NAME) == NOT_SERVING, timeout=5)
    database.up = True
    assert wait_until(lambda: _status(channel, SERVICE_NAME) == SERVING, timeout=5)


@pytest.mark.timeout(30)
def test_raising_and_hanging_checks_fail(log_lines: Any) -> None:
    hang = threading.Event()

    def raises() -> None:
        raise ConnectionError("db down")

    checks = HealthChecks(interval=60, timeout=0.2)
    checks.add("raises", raises)
    checks.add("hangs", lambda: hang.wait(5))
    checks.add("returns_none", lambda: None)
    try:
        assert checks.run_once() == {"raises": False, "hangs": False, "returns_none": True}
    finally:
        hang.set()
        checks.stop()
    events = {line["event"] for line in log_lines()}
    assert {"health.check_failed", "health.check_timeout"} <= events


def _probe_command() -> list[str]:
    script = Path(sys.executable).with_name("alvin-grpc-health")
    found = str(script) if script.exists() else shutil.which("alvin-grpc-health")
    assert found, "the alvin-grpc-health console script is not installed"
    return [found]


def _probe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_probe_command(), *args], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_probe_exit_status(grpc_server_factory: Any, handlers: Handlers) -> None:
    server, _ = grpc_server_factory([handlers.registration()])
    ok = _probe(server.address)
    assert (ok.returncode, ok.stdout.strip()) == (0, "SERVING")
    assert _probe(server.address, SERVICE_NAME, "--timeout", "5").returncode == 0

    server.health.set(SERVICE_NAME, NOT_SERVING)
    down = _probe(server.address, SERVICE_NAME)
    assert (down.returncode, down.stdout.strip()) == (4, "NOT_SERVING")
    assert _probe(server.address).returncode == 0  # the overall status is separate

    unknown = _probe(server.address, "no.Such")  # NOT_FOUND: an RPC failure, as grpc_health_probe
    assert unknown.returncode == 3
    assert "SERVICE_UNKNOWN" in unknown.stderr


def _free_port() -> int:
    with socket.socket() as sock:  # bound then released: nobody listens there
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_probe_connection_failure_is_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([f"127.0.0.1:{_free_port()}", "--connect-timeout", "0.5"]) == 2
    assert "failed to connect to 127.0.0.1:" in capsys.readouterr().err


def test_probe_rpc_failure_is_3(capsys: pytest.CaptureFixture[str]) -> None:
    # A real server that does not implement the health service: connected, then UNIMPLEMENTED.
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        assert main([f"127.0.0.1:{port}", "--timeout", "5"]) == 3
    finally:
        server.stop(grace=None)
    assert "health rpc failed: UNIMPLEMENTED" in capsys.readouterr().err


def test_probe_invalid_arguments_are_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 1
    assert "Missing argument 'TARGET'" in capsys.readouterr().err
    assert main(["127.0.0.1:1", "--timeout", "0"]) == 1
    assert main(["127.0.0.1:1", "--tls", "--cert", __file__]) == 1
    assert "--cert and --key go together" in capsys.readouterr().err


def test_probe_help_documents_the_exit_codes() -> None:
    result = CliRunner().invoke(probe, ["--help"])
    assert result.exit_code == 0
    assert "grpc_health_probe" in result.output
    for line in ("0  the response is SERVING", "2  no connection", "4  the RPC answered"):
        assert line in result.output
    assert main(["--help"]) == 0
