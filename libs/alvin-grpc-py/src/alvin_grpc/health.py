"""Dependency checks that drive the standard health service, and a probe for container health checks.

::

    checks = HealthChecks(interval=10, timeout=3)
    checks.add("postgres", lambda: database.session.execute(text("SELECT 1")))
    checks.add("smtp", smtp_ping, services=["alvin.user.v1.UserService"])
    server = build_server(services, settings, health_checks=checks)

A check passes when it returns anything but ``False`` without raising within ``timeout`` seconds.
The checks run once before the server starts, then every ``interval`` seconds in a background
thread. A service is NOT_SERVING while any of its checks fails (checks added without ``services``
concern every service); the overall ``""`` service is NOT_SERVING while any check fails.

The probe, for a Dockerfile ``HEALTHCHECK`` or an ECS container health check::

    alvin-grpc-health 127.0.0.1:50051                    # overall health
    alvin-grpc-health 127.0.0.1:50051 alvin.user.v1.UserService --timeout 2
    alvin-grpc-health host:443 --tls --ca ca.pem --cert client.pem --key client.key

Exit status: 0 SERVING; 1 NOT_SERVING, UNKNOWN or an unknown service; 2 bad arguments; 3 the server
could not be reached or the call failed.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from alvin_python_lib.logging import get_logger

if TYPE_CHECKING:
    from grpc_health.v1.health import HealthServicer

__all__ = ["EXIT_NOT_SERVING", "EXIT_SERVING", "EXIT_UNREACHABLE", "HealthChecks", "main"]

EXIT_SERVING = 0
EXIT_NOT_SERVING = 1
EXIT_UNREACHABLE = 3

_log = get_logger("alvin_grpc.health")


@dataclass(frozen=True)
class _Check:
    name: str
    function: Callable[[], object]
    services: frozenset[str] | None  # None: every service


class HealthChecks:
    """Named dependency checks, run periodically, that set health statuses."""

    def __init__(self, *, interval: float = 10.0, timeout: float = 5.0) -> None:
        if interval <= 0 or timeout <= 0:
            raise ValueError("interval and timeout must be positive")
        self.interval = interval
        self.timeout = timeout
        self._checks: dict[str, _Check] = {}
        self._results: dict[str, bool] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._health: HealthServicer | None = None
        self._services: tuple[str, ...] = ()
        self._pool: futures.ThreadPoolExecutor | None = None

    def add(
        self, name: str, check: Callable[[], object], *, services: Iterable[str] | None = None
    ) -> None:
        """Register ``check``; ``services`` limits which service names it affects."""
        with self._lock:
            if name in self._checks:
                raise ValueError(f"health check {name!r} is already registered")
            self._checks[name] = _Check(
                name, check, frozenset(services) if services is not None else None
            )

    @property
    def results(self) -> dict[str, bool]:
        """The last outcome of each check (name -> passed)."""
        with self._lock:
            return dict(self._results)

    def _run(self, check: _Check) -> bool:
        assert self._pool is not None
        future = self._pool.submit(check.function)
        try:
            return future.result(timeout=self.timeout) is not False
        except futures.TimeoutError:
            _log.warning("health.check_timeout", check=check.name, timeout_s=self.timeout)
            return False
        except Exception as error:
            _log.warning("health.check_failed", check=check.name, error=repr(error))
            return False

    def run_once(self) -> dict[str, bool]:
        """Run every check now, update the statuses (when started) and return the results."""
        if self._pool is None:
            self._pool = futures.ThreadPoolExecutor(
                max_workers=4, thread_name_prefix="health-check"
            )
        with self._lock:
            checks = list(self._checks.values())
        results = {check.name: self._run(check) for check in checks}
        with self._lock:
            for name, passed in results.items():
                before = self._results.get(name)
                if before is not None and before != passed:
                    _log.info("health.check_changed", check=name, passed=passed)
            self._results.update(results)
        self._apply(checks, results)
        return results

    def _apply(self, checks: Sequence[_Check], results: dict[str, bool]) -> None:
        health = self._health
        if health is None:
            return
        from grpc_health.v1 import health_pb2  # noqa: PLC0415

        serving = health_pb2.HealthCheckResponse.SERVING
        not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
        failed = [c for c in checks if not results.get(c.name, False)]
        for service in self._services:
            down = any(c.services is None or service in c.services for c in failed)
            health.set(service, not_serving if down else serving)
        health.set("", not_serving if failed else serving)

    def start(self, health: HealthServicer, services: Iterable[str]) -> None:
        """Drive ``health`` for ``services``: run the checks once now, then every ``interval``."""
        self._health = health
        self._services = tuple(services)
        self._stop.clear()
        self.run_once()
        self._thread = threading.Thread(target=self._loop, name="health-checks", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except Exception:  # never let the thread die
                _log.exception("health.run_failed")

    def stop(self) -> None:
        """Stop the background thread (statuses stay as they are)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=self.timeout + 1)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alvin-grpc-health",
        description="Exit 0 when a gRPC server's health service reports SERVING.",
    )
    parser.add_argument("target", help="HOST:PORT of the server")
    parser.add_argument("service", nargs="?", default="", help='service name ("" = overall)')
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds (default 3)")
    parser.add_argument("--tls", action="store_true", help="connect with TLS")
    parser.add_argument(
        "--ca", type=Path, help="PEM CA bundle to verify the server (implies --tls)"
    )
    parser.add_argument("--cert", type=Path, help="PEM client certificate for mTLS")
    parser.add_argument("--key", type=Path, help="PEM client private key for mTLS")
    parser.add_argument("--server-name", help="expected name in the server certificate")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``alvin-grpc-health HOST:PORT [SERVICE] [--timeout S] [--tls ...]``."""
    import grpc  # noqa: PLC0415
    from grpc_health.v1 import health_pb2  # noqa: PLC0415

    parser = _parser()
    args = parser.parse_args(argv)
    if (args.cert is None) != (args.key is None):
        parser.error("--cert and --key go together")

    def say(text: str, *, error: bool = False) -> None:
        if not args.quiet:
            print(text, file=sys.stderr if error else sys.stdout)

    options: list[tuple[str, str | int]] = []
    if args.tls or args.ca or args.cert:
        credentials = grpc.ssl_channel_credentials(
            root_certificates=args.ca.read_bytes() if args.ca else None,
            private_key=args.key.read_bytes() if args.key else None,
            certificate_chain=args.cert.read_bytes() if args.cert else None,
        )
        if args.server_name:
            options.append(("grpc.ssl_target_name_override", args.server_name))
        channel = grpc.secure_channel(args.target, credentials, options=options)
    else:
        channel = grpc.insecure_channel(args.target, options=options)
    try:
        check = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        response = check(health_pb2.HealthCheckRequest(service=args.service), timeout=args.timeout)
    except grpc.RpcError as error:
        if error.code() == grpc.StatusCode.NOT_FOUND:
            say("SERVICE_UNKNOWN")
            return EXIT_NOT_SERVING
        say(f"health check failed: {error.code().name}: {error.details()}", error=True)
        return EXIT_UNREACHABLE
    finally:
        channel.close()
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    say(status)
    return EXIT_SERVING if response.status == health_pb2.HealthCheckResponse.SERVING else 1


if __name__ == "__main__":
    raise SystemExit(main())
