"""Channel factory and a base class for typed clients.

::

    from alvin_grpc.client import BaseClient, create_channel, idempotent_methods

    channel = create_channel(
        settings.user_service_target,                       # "user-service:50051"
        token=settings.user_service_token,                  # sent as "authorization: Bearer ..."
        retry_methods=idempotent_methods(user_pb2.DESCRIPTOR.services_by_name["UserService"]),
        default_timeout=2.0,                                # per call, when the caller gives none
    )

    class UserServiceClient(BaseClient[UserServiceStub]):
        def __init__(self, channel: grpc.Channel) -> None:
            super().__init__(channel, UserServiceStub)

        def get_user(self, user_id: int) -> User:
            return self.call(self.stub.GetUser, GetUserRequest(id=user_id)).user

    try:
        client.get_user(42)
    except NotFound:        # the server raised NotFound: same class, message, details
        ...

Retries: the channel's gRPC service config retries calls that failed with ``UNAVAILABLE``, and only
for the methods listed in ``retry_methods`` (full names ``/package.Service/Method``). List only
idempotent methods: :func:`idempotent_methods` reads them from the proto options
(``option idempotency_level = NO_SIDE_EFFECTS`` or ``IDEMPOTENT``). The default deadline covers all
attempts of a call.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar, Generic, TypeVar

import grpc
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import ServiceDescriptor
from pydantic import SecretStr

from alvin_grpc.errors import from_rpc_error
from alvin_python_lib import telemetry
from alvin_python_lib.errors import DomainError
from alvin_python_lib.logging import REQUEST_ID_HEADER, get_request_id

__all__ = [
    "BaseClient",
    "ClientMetadataInterceptor",
    "create_channel",
    "idempotent_methods",
    "retry_service_config",
]

_R = TypeVar("_R")
StubT = TypeVar("StubT")
_C = TypeVar("_C", bound="BaseClient[Any]")

_MIB = 1024 * 1024
_IDEMPOTENT_LEVELS = (
    descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS,
    descriptor_pb2.MethodOptions.IDEMPOTENT,
)


def idempotent_methods(*services: ServiceDescriptor) -> list[str]:
    """Full names (``/package.Service/Method``) of the methods marked ``NO_SIDE_EFFECTS`` or
    ``IDEMPOTENT`` (``option idempotency_level = ...;`` in the .proto) in ``services``."""
    names: list[str] = []
    for service in services:
        for method in service.methods:
            if method.GetOptions().idempotency_level in _IDEMPOTENT_LEVELS:
                names.append(f"/{service.full_name}/{method.name}")
    return names


def _split_method(full_name: str) -> dict[str, str]:
    service, sep, method = full_name.strip().lstrip("/").partition("/")
    if not service or not sep or not method or "/" in method:
        raise ValueError(f"not a full method name (/package.Service/Method): {full_name!r}")
    return {"service": service, "method": method}


def _duration(seconds: float) -> str:
    text = f"{seconds:.9f}".rstrip("0").rstrip(".")
    return f"{text}s"


def retry_service_config(
    methods: Iterable[str],
    *,
    max_attempts: int = 3,
    initial_backoff_s: float = 0.1,
    max_backoff_s: float = 2.0,
    backoff_multiplier: float = 2.0,
) -> dict[str, Any]:
    """A gRPC service config retrying ``UNAVAILABLE`` for ``methods`` only.

    ``max_attempts`` counts the first attempt (gRPC caps it at 5).
    """
    names = [_split_method(m) for m in methods]
    if not names or max_attempts < 2:
        return {"methodConfig": []}
    if not 2 <= max_attempts <= 5:
        raise ValueError("max_attempts must be between 2 and 5 (gRPC's limit)")
    if initial_backoff_s <= 0 or max_backoff_s <= 0 or backoff_multiplier <= 0:
        raise ValueError("backoff values must be positive")
    return {
        "methodConfig": [
            {
                "name": names,
                "retryPolicy": {
                    "maxAttempts": max_attempts,
                    "initialBackoff": _duration(initial_backoff_s),
                    "maxBackoff": _duration(max_backoff_s),
                    "backoffMultiplier": backoff_multiplier,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ]
    }


@dataclass(frozen=True)
class _CallDetails(grpc.ClientCallDetails):
    method: str
    timeout: float | None
    metadata: tuple[tuple[str, str | bytes], ...] | None
    credentials: grpc.CallCredentials | None
    wait_for_ready: bool | None
    compression: grpc.Compression | None


class ClientMetadataInterceptor(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Add ``x-request-id`` (the bound request id, or a new one per call), the service token
    (``authorization: Bearer <token>``) and a default deadline to every call.

    Values the caller passed explicitly (metadata keys, ``timeout=``) are kept.
    """

    def __init__(
        self,
        *,
        token: str | SecretStr | None = None,
        default_timeout: float | None = None,
        request_id_header: str = REQUEST_ID_HEADER,
    ) -> None:
        secret = token.get_secret_value() if isinstance(token, SecretStr) else token
        self._authorization = f"Bearer {secret}" if secret else None
        self.default_timeout = default_timeout
        self.request_id_header = request_id_header

    def _details(self, details: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        metadata = list(details.metadata or ())
        keys = {key for key, _ in metadata}
        if self.request_id_header not in keys:
            metadata.append((self.request_id_header, get_request_id() or uuid.uuid4().hex))
        if self._authorization is not None and "authorization" not in keys:
            metadata.append(("authorization", self._authorization))
        timeout = details.timeout if details.timeout is not None else self.default_timeout
        return _CallDetails(
            method=details.method,
            timeout=timeout,
            metadata=tuple(metadata),
            credentials=details.credentials,
            wait_for_ready=getattr(details, "wait_for_ready", None),
            compression=getattr(details, "compression", None),
        )

    def intercept_unary_unary(
        self, continuation: Any, client_call_details: Any, request: Any
    ) -> Any:
        return continuation(self._details(client_call_details), request)

    def intercept_unary_stream(
        self, continuation: Any, client_call_details: Any, request: Any
    ) -> Any:
        return continuation(self._details(client_call_details), request)

    def intercept_stream_unary(
        self, continuation: Any, client_call_details: Any, request_iterator: Any
    ) -> Any:
        return continuation(self._details(client_call_details), request_iterator)

    def intercept_stream_stream(
        self, continuation: Any, client_call_details: Any, request_iterator: Any
    ) -> Any:
        return continuation(self._details(client_call_details), request_iterator)


def create_channel(
    target: str,
    *,
    tls: bool = False,
    root_certificates: bytes | None = None,
    client_certificate_chain: bytes | None = None,
    client_private_key: bytes | None = None,
    server_name: str | None = None,
    keepalive_time_s: float = 30.0,
    keepalive_timeout_s: float = 10.0,
    retry_methods: Iterable[str] = (),
    max_attempts: int = 3,
    initial_backoff_s: float = 0.1,
    max_backoff_s: float = 2.0,
    backoff_multiplier: float = 2.0,
    load_balancing_policy: str | None = None,
    max_reconnect_backoff_s: float | None = None,
    health_check_service: str | None = None,
    default_timeout: float | None = 5.0,
    token: str | SecretStr | None = None,
    max_message_bytes: int = 4 * _MIB,
    options: Sequence[tuple[str, Any]] = (),
    interceptors: Sequence[Any] = (),
) -> grpc.Channel:
    """A channel to ``target`` (``host:port``, ``dns:///host:port`` ...).

    - TLS when ``tls`` or any certificate is given (``root_certificates`` None: system roots);
      mTLS with ``client_certificate_chain`` + ``client_private_key``; ``server_name`` overrides
      the name checked in the server certificate.
    - keepalive pings every ``keepalive_time_s`` while calls are active (the server's default
      ``grpc_keepalive_min_ping_interval_s`` of 10 s accepts anything slower).
    - a retry policy for ``UNAVAILABLE`` on ``retry_methods`` only (see
      :func:`retry_service_config`).
    - ``load_balancing_policy`` (``"round_robin"``, ``"pick_first"``; None: gRPC's default,
      pick_first) goes into the service config; with a target that lists several addresses
      (``ipv4:10.0.0.1:50051,10.0.0.2:50051``) or a DNS name with several records,
      ``round_robin`` spreads the calls over all of them and skips those that are down.
    - ``health_check_service`` turns on client-side health checking (with ``round_robin``): the
      channel watches each address's ``grpc.health.v1.Health/Watch`` for that service name and
      sends no calls to one that reports NOT_SERVING (a server draining before it stops).
    - ``max_reconnect_backoff_s`` caps the wait between attempts to reconnect to an address that
      went away (gRPC's default grows to 120 s, so a server restarted after a long outage could
      wait that long for calls); None keeps gRPC's default.
    - :class:`ClientMetadataInterceptor`: request id, ``token``, ``default_timeout`` (None: no
      default deadline); ``interceptors`` run after it.
    - when tracing is on (:mod:`alvin_python_lib.telemetry`), OpenTelemetry's client interceptor:
      a span per call and the ``traceparent`` metadata.
    - ``options`` (grpcio channel arguments) come last and win.

    ``inprocess:<name>`` targets the started :class:`alvin_grpc.inprocess.InProcessServer` of
    that name in this process: the same interceptors (request id, token, default deadline,
    tracing) on a channel without a socket; the transport options (TLS, keepalive, retries,
    load balancing) do not apply, and asking for TLS is refused.
    """
    if (client_certificate_chain is None) != (client_private_key is None):
        raise ValueError("client_certificate_chain and client_private_key go together")
    secure = tls or root_certificates is not None or client_certificate_chain is not None
    if target.startswith("inprocess:"):
        from alvin_grpc import inprocess  # noqa: PLC0415 - only in-process deployments need it

        if secure:
            raise ValueError(f"{target}: an in-process channel has no TLS (turn TLS off)")
        return _intercepted(inprocess.channel_for(target), token, default_timeout, interceptors)
    service_config = retry_service_config(
        retry_methods,
        max_attempts=max_attempts,
        initial_backoff_s=initial_backoff_s,
        max_backoff_s=max_backoff_s,
        backoff_multiplier=backoff_multiplier,
    )
    if load_balancing_policy:
        service_config["loadBalancingConfig"] = [{load_balancing_policy: {}}]
    if health_check_service is not None:
        service_config["healthCheckConfig"] = {"serviceName": health_check_service}
    channel_options: list[tuple[str, Any]] = [
        ("grpc.enable_retries", 1),
        ("grpc.service_config", json.dumps(service_config)),
        ("grpc.keepalive_time_ms", int(keepalive_time_s * 1000)),
        ("grpc.keepalive_timeout_ms", int(keepalive_timeout_s * 1000)),
        ("grpc.keepalive_permit_without_calls", 0),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
    ]
    if max_reconnect_backoff_s is not None:
        if max_reconnect_backoff_s <= 0:
            raise ValueError("max_reconnect_backoff_s must be positive")
        backoff_ms = int(max_reconnect_backoff_s * 1000)
        channel_options.append(("grpc.max_reconnect_backoff_ms", backoff_ms))
        # the first attempts wait 1 s by default: never longer than the cap
        channel_options.append(("grpc.initial_reconnect_backoff_ms", min(1000, backoff_ms)))
    if server_name:
        channel_options.append(("grpc.ssl_target_name_override", server_name))
    channel_options.extend(options)

    if secure:
        credentials = grpc.ssl_channel_credentials(
            root_certificates=root_certificates,
            private_key=client_private_key,
            certificate_chain=client_certificate_chain,
        )
        channel = grpc.secure_channel(target, credentials, options=channel_options)
    else:
        channel = grpc.insecure_channel(target, options=channel_options)
    return _intercepted(channel, token, default_timeout, interceptors)


def _intercepted(
    channel: grpc.Channel,
    token: str | SecretStr | None,
    default_timeout: float | None,
    interceptors: Sequence[Any],
) -> grpc.Channel:
    metadata = ClientMetadataInterceptor(token=token, default_timeout=default_timeout)
    channel = grpc.intercept_channel(channel, metadata, *interceptors)
    if telemetry.tracing_enabled():
        from opentelemetry.instrumentation.grpc import client_interceptor  # noqa: PLC0415
        from opentelemetry.instrumentation.grpc.grpcext import intercept_channel  # noqa: PLC0415

        # Outermost: its span covers the whole call and its traceparent joins the metadata.
        otel = client_interceptor()  # type: ignore[no-untyped-call]
        channel = intercept_channel(channel, otel)  # type: ignore[no-untyped-call]
    return channel


class BaseClient(Generic[StubT]):
    """Base of typed clients: wraps a stub, raises domain exceptions instead of ``grpc.RpcError``.

    ``error_classes`` lists a service's own ``DomainError`` subclasses, matched by ``code``
    against the ``ErrorInfo.reason`` the server sent (see :func:`alvin_grpc.errors.from_rpc_error`).
    The original ``grpc.RpcError`` is the raised exception's ``__cause__``.
    """

    error_classes: ClassVar[tuple[type[DomainError], ...]] = ()

    def __init__(
        self, channel: grpc.Channel, stub_factory: Callable[[grpc.Channel], StubT]
    ) -> None:
        self.channel = channel
        self.stub = stub_factory(channel)

    def translate(self, error: grpc.RpcError) -> DomainError:
        """The domain exception for ``error``."""
        return from_rpc_error(error, error_classes=self.error_classes)

    @contextmanager
    def translate_errors(self) -> Iterator[None]:
        """Turn ``grpc.RpcError`` raised inside the block into domain exceptions."""
        try:
            yield
        except grpc.RpcError as error:
            raise self.translate(error) from error

    def call(
        self,
        method: Callable[..., _R],
        request: Any,
        *,
        timeout: float | None = None,
        metadata: Sequence[tuple[str, str | bytes]] | None = None,
        **kwargs: Any,
    ) -> _R:
        """``method(request)`` (a unary stub attribute) with errors translated."""
        if timeout is not None:
            kwargs["timeout"] = timeout
        if metadata:
            kwargs["metadata"] = tuple(metadata)
        with self.translate_errors():
            return method(request, **kwargs)

    def call_stream(
        self,
        method: Callable[..., Iterable[_R]],
        request: Any,
        *,
        timeout: float | None = None,
        metadata: Sequence[tuple[str, str | bytes]] | None = None,
        **kwargs: Any,
    ) -> Iterator[_R]:
        """Iterate a server-streaming call with errors translated (also mid-stream)."""
        if timeout is not None:
            kwargs["timeout"] = timeout
        if metadata:
            kwargs["metadata"] = tuple(metadata)
        with self.translate_errors():
            yield from method(request, **kwargs)

    def close(self) -> None:
        """Close the channel."""
        self.channel.close()

    def __enter__(self: _C) -> _C:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
