"""Waiting on the stack: free ports, polling with a deadline, and the health checks it answers.

Readiness is always polled against a deadline, never slept on: a check that passes ends the wait
at once, and a process that exits ends it at once with its log (``Exited``).
"""

from __future__ import annotations

import socket
import time
import urllib.request
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
POLL_S = 0.05  # polling interval


class Exited(AssertionError):
    """A process the wait depends on has exited: waiting longer cannot help."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(
    what: str, check: Callable[[], T | None], timeout: float, interval: float = POLL_S
) -> T:
    """Poll ``check`` until it returns something truthy, and return that.

    An exception from ``check`` counts as "not yet" (the last one is named on timeout), except
    :class:`Exited`, which ends the wait at once. AssertionError after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = check()
            if value:
                return value
        except Exited:
            raise
        except Exception as exc:
            last_error = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s (last error: {last_error!r})")
        time.sleep(interval)  # polling interval


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """Whether ``url`` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback
            return bool(response.status == 200)
    except OSError:
        return False


def grpc_health(target: str, timeout: float = 1.0) -> str:
    """The gRPC health status of the server at ``target`` (overall, service ""), or the RPC
    error's code name ("UNAVAILABLE", "DEADLINE_EXCEEDED", ...)."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(target) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=timeout
            )
        except grpc.RpcError as error:
            return str(error.code().name)
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))
