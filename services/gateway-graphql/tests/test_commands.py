"""The `gateway` command: `serve` (gunicorn, as in production), `runserver`, `print-schema`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import PASSWORD, TOKEN, unique_email
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from gql.transport.requests import RequestsHTTPTransport
from support.user_service_process import UserServiceProcess, free_port, wait_until

ROOT = Path(__file__).resolve().parent.parent


def _gateway() -> str:
    return shutil.which("gateway") or str(Path(sys.executable).parent / "gateway")


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
    except OSError:
        return 0, None


@contextmanager
def _process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            [_gateway(), *args],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=log.parent,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_print_schema_matches_the_committed_sdl() -> None:
    result = subprocess.run(
        [_gateway(), "print-schema"], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout == (ROOT / "schema.graphql").read_text()


def test_help_lists_the_processes() -> None:
    result = subprocess.run(
        [_gateway(), "--help"], capture_output=True, text=True, timeout=60, check=True
    )
    for command in ("serve", "runserver", "print-schema", "shell"):
        assert command in result.stdout


def test_serve_refuses_unsafe_production_settings(tmp_path: Path) -> None:
    env = {**os.environ, "APP_ENV": "production"}
    env.pop("GATEWAY_USER_SERVICE_TOKEN", None)
    result = subprocess.run(
        [_gateway(), "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode != 0
    assert "configuration error: unsafe for production: GATEWAY_USER_SERVICE_TOKEN" in (
        result.stderr
    )


@pytest.mark.user_service_process
def test_serve_runs_gunicorn_in_production_mode(
    user_service: UserServiceProcess, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        "APP_ENV": "production",
        "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_PORT": str(port),
        "GATEWAY_WORKERS": "1",
        "GATEWAY_THREADS": "2",
        "GATEWAY_GRACEFUL_TIMEOUT_S": "5",
        "GATEWAY_USER_SERVICE_TARGET": user_service.target,
        "GATEWAY_USER_SERVICE_TOKEN": TOKEN,
    }
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "gateway.log"
    with _process(["serve"], env, log) as process:
        wait_until(
            lambda: process.poll() is not None or _get(f"{base}/healthz")[0] == 200,
            timeout=30,
            message="gunicorn answering /healthz",
        )
        assert process.poll() is None, log.read_text()
        assert _get(f"{base}/readyz") == (
            200,
            {"status": "ready", "checks": {"user-service": "SERVING"}},
        )

        # A third-party GraphQL client (gql) against the real WSGI server.
        transport = RequestsHTTPTransport(url=f"{base}/graphql", timeout=10)
        with Client(transport=transport) as session:
            email = unique_email("gunicorn")
            signup = GraphQLRequest(
                "mutation ($i: SignupInput!) { signup(input: $i) { user { id } errors "
                "{ field } } }",
                variable_values={
                    "i": {"email": email, "password": PASSWORD, "displayName": "Guni"}
                },
            )
            assert session.execute(signup)["signup"]["errors"] == []
            users = session.execute(GraphQLRequest("{ users(first: 1) { edges { cursor } } }"))
            assert len(users["users"]["edges"]) == 1
            with pytest.raises(TransportQueryError) as info:  # production: no introspection
                session.execute(GraphQLRequest("{ __schema { types { name } } }"))
            assert info.value.errors is not None
            assert info.value.errors[0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("event") == "http.access"]
    assert access
    assert all(line["request_id"] for line in access)
    assert any(line.get("logger", "").startswith("gunicorn") for line in lines)


@pytest.mark.user_service_process
def test_runserver_serves_graphiql_in_development(
    user_service: UserServiceProcess, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        "APP_ENV": "development",
        "GATEWAY_USER_SERVICE_TARGET": user_service.target,
        "GATEWAY_USER_SERVICE_TOKEN": TOKEN,
    }
    base = f"http://127.0.0.1:{port}"
    with _process(["runserver", "--port", str(port)], env, tmp_path / "dev.log") as process:
        wait_until(
            lambda: process.poll() is not None or _get(f"{base}/healthz")[0] == 200,
            timeout=30,
            message="runserver answering /healthz",
        )
        request = urllib.request.Request(f"{base}/graphql", headers={"Accept": "text/html"})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert "graphiql-config" in response.read().decode()
        # SIGTERM, not Ctrl-C's SIGINT: a suite started in the background by a shell (`nox ... &`)
        # passes SIGINT on ignored to its children (POSIX), and the server would never see it.
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
