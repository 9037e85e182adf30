"""What only the container engine can tell about the running compose stack.

Run by containers/run.py after `docker compose up --wait`, with the compose project named in the
environment as Compose itself reads it (COMPOSE_PROJECT_NAME, COMPOSE_FILE, DOCKER_HOST) and the
compose command in ``E2E_COMPOSE``, the way the e2e suite reaches it (e2e/stacks.py).
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from stacks import ComposeStack

KIT_SERVICES = ("user-grpc", "user-worker", "user-scheduler", "gateway")
APP_UID = "10001"  # the Dockerfiles' non-root user
RECOVERY_S = 90
POLL_S = 0.25
USERS = '{"query": "query Users { users(first: 1) { edges { node { id } } } }"}'


@functools.cache
def _stack() -> ComposeStack:
    return ComposeStack.from_environment()


def compose(*args: str, timeout: float = 120) -> str:
    return _stack().compose(*args, timeout=timeout)


def containers(*services: str) -> list[dict[str, Any]]:
    """`compose ps --all` as records (Compose prints one JSON object per line)."""
    out = compose("ps", "--all", "--format", "json", *services)
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def inspect(container: str) -> dict[str, Any]:
    docker = os.environ.get("CONTAINERS_DOCKER", "docker")
    out = subprocess.run(
        [docker, "inspect", container], capture_output=True, text=True, check=True
    ).stdout
    return dict(json.loads(out)[0])


@pytest.fixture(scope="module")
def graphql_url() -> str:
    return _stack().graphql_url


def post(url: str, body: str) -> tuple[int, dict[str, Any] | None]:
    request = urllib.request.Request(
        url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        try:
            return error.code, json.load(error)
        except ValueError:
            return error.code, None


def test_every_service_reaches_healthy() -> None:
    records = {r["Service"]: r for r in containers()}
    assert set(records) >= {"postgres", "redis", "mailpit", "migrate", "nginx", *KIT_SERVICES}
    for service, record in records.items():
        if service == "migrate":
            continue
        assert (record["State"], record["Health"]) == ("running", "healthy"), record


@pytest.mark.parametrize("service", KIT_SERVICES)
def test_the_kit_processes_run_as_the_non_root_user(service: str) -> None:
    # every process in the container, read from /proc (the slim image has no ps)
    script = (
        "import os; print(' '.join(sorted({str(os.stat('/proc/' + p).st_uid) "
        "for p in os.listdir('/proc') if p.isdigit()})))"
    )
    uids = compose("exec", "-T", service, "python", "-c", script).split()
    assert uids == [APP_UID]
    (record,) = containers(service)
    assert inspect(record["Name"])["Config"]["User"] == f"{APP_UID}:{APP_UID}"


def test_migrate_ran_once_and_exited_0() -> None:
    records = containers("migrate")
    assert len(records) == 1
    (record,) = records
    assert (record["State"], record["ExitCode"]) == ("exited", 0)
    assert inspect(record["Name"])["RestartCount"] == 0
    # it did its job: the database carries the schema version Alembic writes last
    version = compose(
        "exec", "-T", "postgres", "sh", "-c",
        'psql -U "$POSTGRES_USER" -d "$POSTGRES_DB" -tAc "SELECT version_num FROM alembic_version"',
    ).split()  # fmt: skip
    assert len(version) == 1, version


@pytest.fixture
def traffic(graphql_url: str) -> Iterator[list[tuple[int, dict[str, Any] | None]]]:
    """Queries that need the user-service, sent back to back until the test ends."""
    answers: list[tuple[int, dict[str, Any] | None]] = []
    stop = threading.Event()

    def send() -> None:
        while not stop.is_set():
            answers.append(post(graphql_url, USERS))
            time.sleep(0.05)  # pacing, not synchronisation: about 20 requests a second

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    try:
        yield answers
    finally:
        stop.set()
        thread.join(timeout=30)


def _ok(answer: tuple[int, dict[str, Any] | None]) -> bool:
    status, body = answer
    return status == 200 and body is not None and not body.get("errors")


def test_restarting_user_grpc_under_traffic_recovers_without_a_gateway_restart(
    traffic: list[tuple[int, dict[str, Any] | None]],
    graphql_url: str,
    record_property: Callable[[str, object], None],
) -> None:
    (gateway,) = containers("gateway")
    (grpc,) = containers("user-grpc")
    gateway_started = inspect(gateway["Name"])["State"]["StartedAt"]
    grpc_started = inspect(grpc["Name"])["State"]["StartedAt"]
    deadline = time.monotonic() + 30
    while not any(_ok(a) for a in traffic) and time.monotonic() < deadline:
        time.sleep(POLL_S)
    assert any(_ok(a) for a in traffic), traffic[-3:]

    restarted = time.monotonic()
    compose("restart", "user-grpc", timeout=120)
    restarted_at = len(traffic)
    deadline = time.monotonic() + RECOVERY_S
    while time.monotonic() < deadline and not any(_ok(a) for a in traffic[restarted_at:]):
        time.sleep(POLL_S)
    after_restart = traffic[restarted_at:]
    assert any(_ok(a) for a in after_restart), (
        f"no answer within {RECOVERY_S}s: {after_restart[-3:]}"
    )
    recovered_s = time.monotonic() - restarted
    assert inspect(grpc["Name"])["State"]["StartedAt"] != grpc_started  # it did restart
    refused = sum(1 for a in traffic if not _ok(a))
    record_property("restart_user_grpc_recovery_s", round(recovered_s, 1))
    record_property("restart_user_grpc_errors", f"{refused} of {len(traffic)} queries")

    # the gateway kept running and reconnected by itself
    assert inspect(gateway["Name"])["State"]["StartedAt"] == gateway_started
    # while the user-service was away, every answer was still a GraphQL answer with a code
    for status, body in traffic:
        assert body is not None, status
        for error in body.get("errors") or []:
            assert error["extensions"]["code"], error


ALL_SERVICES = ("postgres", "redis", "mailpit", "nginx", *KIT_SERVICES)


@pytest.mark.parametrize("service", ALL_SERVICES)
def test_every_container_is_hardened(service: str) -> None:
    (record,) = containers(service)
    host = inspect(record["Name"])["HostConfig"]
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"]
    assert "no-new-privileges:true" in host["SecurityOpt"]


@pytest.mark.parametrize("service", ["nginx", *KIT_SERVICES])
def test_the_root_file_system_cannot_be_written(service: str) -> None:
    # the engine's flag above, and the kernel's answer: a write outside tmpfs and volumes fails
    out = compose(
        "exec", "-T", service, "sh", "-c",
        "touch /written 2>&1 && echo WRITTEN; touch /tmp/written && echo TMP-OK",
    )  # fmt: skip
    assert "WRITTEN" not in out.split()
    assert "Read-only file system" in out
    assert "TMP-OK" in out.split()


def test_nginx_cannot_reach_the_data_tier() -> None:
    # nginx shares only `edge` with the gateway: the data tier's names do not resolve there.
    # (Isolation by address between networks is the engine's packet filter, which the private
    # engine of this harness runs without: --iptables=false.)
    out = compose(
        "exec", "-T", "nginx", "sh", "-c",
        "for host in postgres redis mailpit user-grpc gateway; do "
        "getent hosts $host > /dev/null && echo $host=resolves || echo $host=unknown; done",
    )  # fmt: skip
    found = dict(line.split("=") for line in out.split())
    assert found == {
        "postgres": "unknown",
        "redis": "unknown",
        "mailpit": "unknown",
        "user-grpc": "unknown",
        "gateway": "resolves",
    }
