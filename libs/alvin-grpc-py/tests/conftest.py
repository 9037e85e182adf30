from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from grpc_test_service import Handlers, Stub

from alvin_grpc.server import GrpcServer
from alvin_python_lib.logging import clear_request_id, configure_logging


@pytest.fixture(autouse=True)
def _no_request_id_leaks() -> Iterator[None]:
    clear_request_id()
    yield
    clear_request_id()


@pytest.fixture
def handlers() -> Iterator[Handlers]:
    handlers = Handlers()
    yield handlers
    handlers.release.set()  # let blocked Slow calls finish


@pytest.fixture
def serve(
    grpc_server_factory: Callable[..., tuple[GrpcServer, grpc.Channel]], handlers: Handlers
) -> Callable[..., tuple[GrpcServer, grpc.Channel, Stub]]:
    """serve(settings=None, **build_server_kwargs) -> (server, raw channel, stub on it)."""

    def start(settings: Any = None, **kwargs: Any) -> tuple[GrpcServer, grpc.Channel, Stub]:
        server, channel = grpc_server_factory([handlers.registration()], settings, **kwargs)
        return server, channel, Stub(channel)

    return start


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """JSON log lines emitted during the test (alvin_python_lib.logging, json format)."""
    stream = io.StringIO()
    configure_logging(fmt="json", stream=stream, level="INFO")

    def lines() -> list[dict[str, Any]]:
        return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]

    yield lines
    configure_logging(fmt="console", level="WARNING")
