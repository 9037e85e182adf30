"""The real stack: started the way `nox -s up` starts it, on free ports and a fresh data folder, or
a compose project that is already up (``E2E_STACK=compose``, see stacks.py). ``STACK_TOPOLOGY=
one-process`` starts it as `nox -s up -- --one-process` does: the same tests, except those marked
``split_topology``.

Tests that look inside the local processes (their pids, metrics ports, traces, the launcher
itself) are marked ``local_stack`` and skipped against compose.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest
from otlp_receiver import OtlpReceiver
from stacks import ComposeStack, LocalStack, Stack

from kit.stack import launched

ROOT = Path(__file__).resolve().parents[2]

__all__ = ["ROOT", "ComposeStack", "LocalStack", "Stack", "started_stack"]


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


def _one_process_mode() -> bool:
    return os.environ.get("STACK_TOPOLOGY", "split") == "one-process"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "local_stack: needs the stack started here (its processes, ports, traces)"
    )
    config.addinivalue_line(
        "markers",
        "split_topology: asserts the split topology's processes (a gRPC server process, "
        "each service's own traces and metrics port)",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if _one_process_mode():
        skip_split = pytest.mark.skip(
            reason="asserts the split topology's processes (STACK_TOPOLOGY=one-process)"
        )
        for item in items:
            if item.get_closest_marker("split_topology"):
                item.add_marker(skip_split)
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
    with launched.started_stack(
        data_dir, args=args, env=env, stop_timeout=stop_timeout, kind=LocalStack
    ) as stack:
        yield stack


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
        # every test signs up from 127.0.0.1: the per-address signup throttle (10 an hour by
        # default) would refuse the suite's later signups
        "USER_SERVICE_SIGNUP_MAX_PER_IP": "10000",
    }
    with started_stack(tmp_path_factory.mktemp("stack-data"), env=env) as stack:
        stack.traces = otlp_receiver
        yield stack
