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

Exit status as grpc_health_probe's: 0 SERVING; 1 invalid arguments; 2 no connection; 3 the RPC
failed or timed out (an unknown service too: NOT_FOUND); 4 answered, but not SERVING.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from alvin_python_lib.logging import get_logger

if TYPE_CHECKING:
    from grpc_health.v1.health import HealthServicer

__all__ = [
    "EXIT_CONNECTION_FAILURE",
    "EXIT_INVALID_ARGUMENTS",
    "EXIT_RPC_FAILURE",
    "EXIT_SERVING",
    "EXIT_UNHEALTHY",
    "HealthChecks",
    "main",
    "probe",
]

# grpc_health_probe's exit codes, so that scripts written for it read ours the same way.
EXIT_SERVING = 0
EXIT_INVALID_ARGUMENTS = 1
EXIT_CONNECTION_FAILURE = 2
EXIT_RPC_FAILURE = 3
EXIT_UNHEALTHY = 4

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


_EXIT_CODES_HELP = """\b
Exit status, as grpc_health_probe's:
  0  the response is SERVING
  1  invalid command-line arguments
  2  no connection within --connect-timeout (refused, unresolvable, TLS handshake failed)
  3  the RPC failed or timed out (an unknown SERVICE is NOT_FOUND: 3, as there)
  4  the RPC answered, but not SERVING (NOT_SERVING, UNKNOWN, SERVICE_UNKNOWN)
"""


def _ensure_pair(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    if param.name == "key" and (value is None) != (ctx.params.get("cert") is None):
        raise click.BadParameter("--cert and --key go together", ctx=ctx, param=param)
    return value


@click.command(
    "alvin-grpc-health",
    epilog=_EXIT_CODES_HELP,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.argument("target")
@click.argument("service", default="")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=3.0,
    show_default=True,
    help="Seconds for the connection, then as many for the RPC (unless set below).",
)
@click.option(
    "--connect-timeout",
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds to get a connection (default: --timeout).",
)
@click.option(
    "--rpc-timeout",
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds for the Check RPC (default: --timeout).",
)
@click.option("--tls", is_flag=True, help="Connect with TLS.")
@click.option(
    "--ca",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM CA bundle that verifies the server (implies --tls).",
)
@click.option(
    "--cert",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    is_eager=True,
    help="PEM client certificate for mTLS (with --key).",
)
@click.option(
    "--key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    callback=_ensure_pair,
    help="PEM client private key for mTLS (with --cert).",
)
@click.option("--server-name", help="Expected name in the server certificate.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing.")
def probe(  # click passes every parameter by name
    *,
    target: str,
    service: str,
    timeout: float,
    connect_timeout: float | None,
    rpc_timeout: float | None,
    tls: bool,
    ca: Path | None,
    cert: Path | None,
    key: Path | None,
    server_name: str | None,
    quiet: bool,
) -> None:
    """Exit 0 when the gRPC server at TARGET (HOST:PORT) reports SERVICE as SERVING.

    SERVICE defaults to "" (the server's overall health).
    """
    import grpc  # noqa: PLC0415
    from grpc_health.v1 import health_pb2  # noqa: PLC0415

    def say(text: str, *, error: bool = False) -> None:
        if not quiet:
            click.echo(text, err=error)

    options: list[tuple[str, str | int]] = []
    if tls or ca or cert:
        credentials = grpc.ssl_channel_credentials(
            root_certificates=ca.read_bytes() if ca else None,
            private_key=key.read_bytes() if key else None,
            certificate_chain=cert.read_bytes() if cert else None,
        )
        if server_name:
            options.append(("grpc.ssl_target_name_override", server_name))
        channel = grpc.secure_channel(target, credentials, options=options)
    else:
        channel = grpc.insecure_channel(target, options=options)
    with channel:
        connect_s = connect_timeout or timeout
        try:
            grpc.channel_ready_future(channel).result(timeout=connect_s)
        except grpc.FutureTimeoutError:
            say(f"failed to connect to {target} within {connect_s:g}s", error=True)
            raise SystemExit(EXIT_CONNECTION_FAILURE) from None
        check = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        try:
            response = check(
                health_pb2.HealthCheckRequest(service=service), timeout=rpc_timeout or timeout
            )
        except grpc.RpcError as error:
            code = error.code()
            if code == grpc.StatusCode.NOT_FOUND:
                say(f"SERVICE_UNKNOWN: {service!r} is not known to the server", error=True)
            else:
                say(f"health rpc failed: {code.name}: {error.details()}", error=True)
            raise SystemExit(EXIT_RPC_FAILURE) from None
    say(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))
    if response.status != health_pb2.HealthCheckResponse.SERVING:
        raise SystemExit(EXIT_UNHEALTHY)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the probe and return its exit status (usage errors: 1, as grpc_health_probe)."""
    try:
        probe.main(args=list(argv) if argv is not None else None, standalone_mode=False)
    except click.UsageError as error:
        error.show()
        return EXIT_INVALID_ARGUMENTS
    except click.exceptions.Exit as done:  # --help
        return done.exit_code
    except click.Abort:
        return EXIT_INVALID_ARGUMENTS
    except SystemExit as done:
        return int(done.code or 0)
    return EXIT_SERVING


if __name__ == "__main__":
    raise SystemExit(main())
