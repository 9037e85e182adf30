"""Server settings, a builder for a ready-to-serve grpcio server, and graceful shutdown.

::

    from alvin_grpc.server import ServerSettings, ServiceRegistration, build_server, serve_forever

    server = build_server(
        [ServiceRegistration.from_servicer(add_UserServiceServicer_to_server, UserServicer(),
                                           user_pb2.DESCRIPTOR.services_by_name["UserService"])],
        settings,                       # a ServerSettings (sub)class instance
        database=database,              # scoped sessions removed after every call
        health_checks=checks,           # optional dependency checks (alvin_grpc.health)
    )
    raise SystemExit(serve_forever(server))

The server always has the standard health service (every registered service and ``""`` set to
SERVING) and, when reflection is on (by default in development and test), server reflection listing
the registered services, health and reflection. Only health answers without the service credential.

Mixed into a :class:`~alvin_python_lib.config.BaseAppSettings` in staging or production, the
settings make :func:`build_server` refuse to serve without service authentication: a token of
:data:`~alvin_grpc.interceptors.MIN_SERVICE_TOKEN_LENGTH` characters or more, or mTLS peers.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, TypeVar

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import CollectorRegistry
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings

from alvin_grpc.health import HealthChecks
from alvin_grpc.interceptors import (
    MIN_SERVICE_TOKEN_LENGTH,
    MetricsServer,
    server_interceptors,
    start_metrics_server,
)
from alvin_python_lib.config import BaseAppSettings, CommaList, SettingsError
from alvin_python_lib.db import SupportsRemove
from alvin_python_lib.logging import get_logger

__all__ = [
    "GrpcServer",
    "ServerSettings",
    "ServiceRegistration",
    "build_server",
    "default_interceptors",
    "serve_forever",
]

_S = TypeVar("_S")
_log = get_logger("alvin_grpc.server")

_MIB = 1024 * 1024


class ServerSettings(BaseSettings):
    """gRPC server settings; mix into a service's settings like ``DatabaseSettings``.

    Field names start with ``grpc_`` so that they stay unambiguous next to other settings: with
    ``env_prefix="USER_SERVICE_"`` the port is ``USER_SERVICE_GRPC_PORT``; alone, ``GRPC_PORT``.
    """

    grpc_host: str = Field(default="0.0.0.0", description="address to bind (0.0.0.0, [::], ...)")  # noqa: S104
    grpc_port: int = Field(default=50051, ge=0, le=65535, description="0 picks a free port")
    grpc_max_workers: int = Field(default=10, ge=1, description="handler threads")
    grpc_max_concurrent_rpcs: int | None = Field(
        default=None, ge=1, description="beyond this, calls fail with RESOURCE_EXHAUSTED"
    )
    grpc_max_receive_message_bytes: int = Field(default=4 * _MIB, ge=1)
    grpc_max_send_message_bytes: int = Field(default=4 * _MIB, ge=1)
    grpc_keepalive_time_s: float = Field(
        default=60.0, gt=0, description="ping an idle client connection this often"
    )
    grpc_keepalive_timeout_s: float = Field(
        default=20.0, gt=0, description="close the connection when a ping is not answered in time"
    )
    grpc_keepalive_min_ping_interval_s: float = Field(
        default=10.0,
        gt=0,
        description="clients may ping this often (also without calls) before being sent GOAWAY",
    )
    grpc_grace_period_s: float = Field(
        default=10.0, ge=0, description="in-flight calls get this long at shutdown"
    )
    grpc_drain_delay_s: float = Field(
        default=0.0,
        ge=0,
        description="at shutdown, report NOT_SERVING but keep accepting calls this long (lets load "
        "balancers that poll health notice before the listener closes)",
    )
    grpc_tls_cert_file: Path | None = Field(default=None, description="PEM certificate chain")
    grpc_tls_key_file: Path | None = Field(default=None, description="PEM private key")
    grpc_tls_client_ca_file: Path | None = Field(
        default=None, description="PEM CA bundle: when set, clients must present a certificate"
    )
    grpc_service_token: SecretStr | None = Field(
        default=None,
        description="shared token callers must send (None or empty: no token check; staging and "
        f"production need {MIN_SERVICE_TOKEN_LENGTH}+ characters unless mTLS peers are allowed)",
    )
    grpc_allowed_peers: CommaList = Field(
        default=(), description="mTLS client names (CN or SAN) admitted without a token; a,b,c"
    )
    grpc_error_domain: str = Field(default="alvin", description="google.rpc.ErrorInfo domain")
    grpc_reflection: bool | None = Field(
        default=None,
        description="server reflection, behind the service credential (default: on in development "
        "and test, off in staging and production)",
    )
    metrics_port: int | None = Field(
        default=None, ge=0, le=65535, description="serve Prometheus /metrics on this port"
    )

    @model_validator(mode="after")
    def _check_tls(self) -> ServerSettings:
        if (self.grpc_tls_cert_file is None) != (self.grpc_tls_key_file is None):
            raise ValueError("grpc_tls_cert_file and grpc_tls_key_file go together")
        if self.grpc_tls_client_ca_file is not None and self.grpc_tls_cert_file is None:
            raise ValueError("grpc_tls_client_ca_file (mTLS) needs grpc_tls_cert_file/key_file")
        return self

    @property
    def reflection_enabled(self) -> bool:
        """``grpc_reflection``, or the environment's default (off in staging and production)."""
        if self.grpc_reflection is not None:
            return self.grpc_reflection
        return not _deployed(self)

    def check_service_auth(self) -> None:
        """Raise :class:`~alvin_python_lib.config.SettingsError` (naming the variable) when a
        deployed server would admit calls without a strong credential: no token of
        ``MIN_SERVICE_TOKEN_LENGTH`` characters, and no mTLS peer allow-list."""
        if not _deployed(self):
            return
        token = self.grpc_service_token.get_secret_value() if self.grpc_service_token else ""
        name = _env_name(self, "grpc_service_token")
        minimum = f"at least {MIN_SERVICE_TOKEN_LENGTH} characters"
        if token and len(token) < MIN_SERVICE_TOKEN_LENGTH:
            raise SettingsError(f"{name} is too short for a deployed server: {minimum}")
        mtls_peers = bool(self.grpc_allowed_peers) and self.grpc_tls_client_ca_file is not None
        if not token and not mtls_peers:
            raise SettingsError(
                f"{name} is empty: a deployed server needs a service token ({minimum}) or mTLS "
                f"peers ({_env_name(self, 'grpc_allowed_peers')} with "
                f"{_env_name(self, 'grpc_tls_client_ca_file')})"
            )

    @property
    def tls_enabled(self) -> bool:
        """True when the server listens with TLS."""
        return self.grpc_tls_cert_file is not None

    @property
    def bind_address(self) -> str:
        """``host:port`` for grpcio (IPv6 literals bracketed)."""
        host = self.grpc_host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"{host}:{self.grpc_port}"

    def server_options(self) -> list[tuple[str, Any]]:
        """grpcio channel arguments for the server."""
        return [
            ("grpc.max_receive_message_length", self.grpc_max_receive_message_bytes),
            ("grpc.max_send_message_length", self.grpc_max_send_message_bytes),
            ("grpc.keepalive_time_ms", int(self.grpc_keepalive_time_s * 1000)),
            ("grpc.keepalive_timeout_ms", int(self.grpc_keepalive_timeout_s * 1000)),
            ("grpc.keepalive_permit_without_calls", 1),
            (
                "grpc.http2.min_ping_interval_without_data_ms",
                int(self.grpc_keepalive_min_ping_interval_s * 1000),
            ),
            # Two servers on one port would share the traffic silently: refuse the second bind.
            ("grpc.so_reuseport", 0),
        ]

    def server_credentials(self) -> grpc.ServerCredentials | None:
        """TLS (or mTLS with a client CA) credentials, or None for plaintext."""
        if self.grpc_tls_cert_file is None or self.grpc_tls_key_file is None:
            return None
        pair = (self.grpc_tls_key_file.read_bytes(), self.grpc_tls_cert_file.read_bytes())
        client_ca = (
            self.grpc_tls_client_ca_file.read_bytes() if self.grpc_tls_client_ca_file else None
        )
        return grpc.ssl_server_credentials(
            [pair], root_certificates=client_ca, require_client_auth=client_ca is not None
        )


def _deployed(settings: ServerSettings) -> bool:
    """Staging or production; settings without an environment (not a BaseAppSettings) are not."""
    return isinstance(settings, BaseAppSettings) and settings.is_deployed


def _env_name(settings: ServerSettings, field: str) -> str:
    if isinstance(settings, BaseAppSettings):
        return type(settings).env_name(field)
    return f"{settings.model_config.get('env_prefix') or ''}{field}".upper()


@dataclass(frozen=True)
class ServiceRegistration:
    """A service to serve: its full name (health, reflection) and how to add it to a server."""

    name: str
    attach: Callable[[grpc.Server], object]

    @classmethod
    def from_servicer(
        cls,
        add_to_server: Callable[[_S, grpc.Server], object],
        servicer: _S,
        service: str | ServiceDescriptor,
    ) -> ServiceRegistration:
        """Generated code: ``from_servicer(add_FooServicer_to_server, FooServicer(), descriptor)``.

        ``service`` is the service's ``ServiceDescriptor`` or its full name.
        """
        name = service if isinstance(service, str) else service.full_name
        return cls(name, lambda server: add_to_server(servicer, server))

    @classmethod
    def from_handlers(
        cls, name: str, handlers: Mapping[str, grpc.RpcMethodHandler[Any, Any]]
    ) -> ServiceRegistration:
        """Method name -> handler (``grpc.unary_unary_rpc_method_handler(...)``), registered the
        way generated code registers them."""

        def attach(server: grpc.Server) -> None:
            server.add_generic_rpc_handlers(
                (grpc.method_handlers_generic_handler(name, dict(handlers)),)
            )
            server.add_registered_method_handlers(name, dict(handlers))

        return cls(name, attach)

    @classmethod
    def from_generic_handler(
        cls, handler: grpc.GenericRpcHandler, name: str | None = None
    ) -> ServiceRegistration:
        """A generic handler; ``name`` defaults to its ``service_name()`` when it has one."""
        if name is None:
            service_name = getattr(handler, "service_name", None)
            if not callable(service_name):
                raise TypeError(f"{handler!r} has no service_name(): pass name=")
            name = str(service_name())
        return cls(name, lambda server: server.add_generic_rpc_handlers((handler,)))


def _registration(item: ServiceRegistration | grpc.GenericRpcHandler) -> ServiceRegistration:
    if isinstance(item, ServiceRegistration):
        return item
    return ServiceRegistration.from_generic_handler(item)


class GrpcServer:
    """A built (and normally started) server with its health servicer."""

    def __init__(
        self,
        server: grpc.Server,
        *,
        port: int,
        health: health.HealthServicer,
        services: Sequence[str],
        settings: ServerSettings,
        health_checks: HealthChecks | None = None,
        metrics_registry: CollectorRegistry | None = None,
    ) -> None:
        self.server = server
        self.port = port
        self.health = health
        self.services = tuple(services)
        self.settings = settings
        self.health_checks = health_checks
        self.metrics_registry = metrics_registry
        self.metrics_server: MetricsServer | None = None
        self._started = False
        self._stopped = False
        self._lock = threading.Lock()

    @property
    def address(self) -> str:
        """Where a client on this machine reaches the server (``127.0.0.1:port`` for 0.0.0.0)."""
        host = self.settings.grpc_host
        if host in ("0.0.0.0", "", "[::]", "::"):  # noqa: S104 - a comparison, not a bind
            host = "127.0.0.1"
        elif ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"{host}:{self.port}"

    def start(self) -> GrpcServer:
        """Run the health checks once, start serving, the check thread and /metrics."""
        with self._lock:
            if self._started:
                return self
            self._started = True
        if self.health_checks is not None:
            self.health_checks.start(self.health, self.services)
        self.server.start()
        if self.settings.metrics_port is not None:
            self.metrics_server = start_metrics_server(
                self.settings.metrics_port, self.metrics_registry
            )
        _log.info(
            "grpc.server.started",
            port=self.port,
            services=list(self.services),
            tls=self.settings.tls_enabled,
            metrics_port=self.metrics_server.port if self.metrics_server else None,
        )
        return self

    def enter_graceful_shutdown(self) -> None:
        """Report NOT_SERVING for every service (and ``""``) at once, for good."""
        self.health.enter_graceful_shutdown()  # first: later set() calls are ignored
        if self.health_checks is not None:
            self.health_checks.stop()

    def stop(self, grace: float | None = None) -> None:
        """NOT_SERVING, refuse new calls, give in-flight calls ``grace`` seconds (default: the
        settings' grace period), then cancel what is left. Returns when the server has stopped."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        grace = self.settings.grpc_grace_period_s if grace is None else grace
        self.enter_graceful_shutdown()
        self.server.stop(grace).wait(grace + 5)
        if self.metrics_server is not None:
            self.metrics_server.stop()
        _log.info("grpc.server.stopped", port=self.port)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the server stops (True) or ``timeout`` passes (False)."""
        timed_out = self.server.wait_for_termination(timeout)
        return not timed_out

    def __enter__(self) -> GrpcServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def default_interceptors(
    settings: ServerSettings,
    *,
    database: SupportsRemove | None = None,
    metrics_registry: CollectorRegistry | None = None,
    extra: Sequence[grpc.ServerInterceptor] = (),
) -> list[grpc.ServerInterceptor]:
    """The default chain configured from ``settings`` (error domain, service token, allowed
    peers); refuses deployed settings without a strong credential
    (:meth:`ServerSettings.check_service_auth`). Shared by :func:`build_server` and
    :class:`alvin_grpc.inprocess.InProcessServer`."""
    settings.check_service_auth()
    token = settings.grpc_service_token
    return server_interceptors(
        error_domain=settings.grpc_error_domain,
        tokens=[token] if token is not None else [],
        allowed_peers=settings.grpc_allowed_peers,
        database=database,
        metrics_registry=metrics_registry,
        extra=extra,
    )


def build_server(
    services: Iterable[ServiceRegistration | grpc.GenericRpcHandler],
    settings: ServerSettings | None = None,
    *,
    interceptors: Sequence[grpc.ServerInterceptor] | None = None,
    extra_interceptors: Sequence[grpc.ServerInterceptor] = (),
    database: SupportsRemove | None = None,
    health_checks: HealthChecks | None = None,
    metrics_registry: CollectorRegistry | None = None,
    start: bool = True,
) -> GrpcServer:
    """Build (and by default start) a server for ``services``.

    ``interceptors=None`` means :func:`alvin_grpc.interceptors.server_interceptors` configured from
    ``settings`` (error domain, service token, allowed peers), ``database`` and
    ``metrics_registry``, with ``extra_interceptors`` inside the error mapping; deployed settings
    without a strong credential are refused then (:meth:`ServerSettings.check_service_auth`).
    Pass a list to replace the chain entirely.
    """
    settings = settings if settings is not None else ServerSettings()
    registrations = [_registration(item) for item in services]
    names = [r.name for r in registrations]
    if len(set(names)) != len(names):
        raise ValueError(f"a service is registered twice: {names}")
    if interceptors is None:
        interceptors = default_interceptors(
            settings,
            database=database,
            metrics_registry=metrics_registry,
            extra=extra_interceptors,
        )
    executor = futures.ThreadPoolExecutor(
        max_workers=settings.grpc_max_workers, thread_name_prefix="grpc-handler"
    )
    server = grpc.server(
        executor,
        interceptors=list(interceptors),
        options=settings.server_options(),
        maximum_concurrent_rpcs=settings.grpc_max_concurrent_rpcs,
    )
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for registration in registrations:
        registration.attach(server)
    if settings.reflection_enabled:
        reflection.enable_server_reflection(
            [*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server
        )
    credentials = settings.server_credentials()
    if credentials is None:
        port = server.add_insecure_port(settings.bind_address)
    else:
        port = server.add_secure_port(settings.bind_address, credentials)
    for name in ("", *names):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    wrapper = GrpcServer(
        server,
        port=port,
        health=health_servicer,
        services=names,
        settings=settings,
        health_checks=health_checks,
        metrics_registry=metrics_registry,
    )
    return wrapper.start() if start else wrapper


def serve_forever(
    server: GrpcServer,
    *,
    signals: Sequence[signal.Signals] = (signal.SIGTERM, signal.SIGINT),
) -> int:
    """Serve until SIGTERM/SIGINT, then shut down gracefully and return 0 (the exit status).

    On the signal: every service reports NOT_SERVING at once; after ``grpc_drain_delay_s`` (a
    second signal cuts it short) the server stops accepting calls; in-flight calls get
    ``grpc_grace_period_s``. Must run in the main thread (signal handlers).
    """
    server.start()
    stop = threading.Event()
    signalled: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        signalled.append(signum)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in signals}
    try:
        # Poll the server too, in case it is stopped from another thread.
        while not stop.wait(1.0):
            if server.wait(0):
                return 0
        _log.info("grpc.server.shutdown", signal=signal.Signals(signalled[0]).name)
        server.enter_graceful_shutdown()
        drain = server.settings.grpc_drain_delay_s
        if drain > 0:
            stop.clear()
            stop.wait(drain)
        server.stop()
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
