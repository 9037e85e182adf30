"""The kit's default server interceptor chain, in its documented order."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import grpc
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from alvin_grpc.errors import DEFAULT_ERROR_DOMAIN
from alvin_grpc.interceptors.access_log import AccessLogInterceptor
from alvin_grpc.interceptors.db_session import DbSessionInterceptor
from alvin_grpc.interceptors.errors import ErrorsInterceptor
from alvin_grpc.interceptors.metrics import MetricsInterceptor
from alvin_grpc.interceptors.request_context import RequestContextInterceptor
from alvin_grpc.interceptors.service_auth import ServiceAuthInterceptor
from alvin_python_lib import telemetry
from alvin_python_lib.db import SupportsRemove

__all__ = ["server_interceptors"]


def server_interceptors(
    *,
    error_domain: str = DEFAULT_ERROR_DOMAIN,
    tokens: Iterable[str | SecretStr] = (),
    allowed_peers: Iterable[str] = (),
    database: SupportsRemove | None = None,
    metrics_registry: CollectorRegistry | None = None,
    request_context: bool = True,
    access_log: bool = True,
    metrics: bool = True,
    tracing: bool | None = None,
    extra: Sequence[grpc.ServerInterceptor] = (),
) -> list[grpc.ServerInterceptor]:
    """The interceptors in the documented order (:mod:`alvin_grpc.interceptors`).

    ``tracing`` (None: when :func:`alvin_python_lib.telemetry.tracing_enabled`) puts
    OpenTelemetry's server interceptor outermost: a span per call, continuing the caller's
    ``traceparent``, current while the other interceptors and the handler run.

    Authentication is added when ``tokens`` or ``allowed_peers`` are given, session cleanup when
    ``database`` is; ``extra`` interceptors go innermost (after the error mapping, before the
    session cleanup), so their domain exceptions are mapped too.
    """
    chain: list[grpc.ServerInterceptor] = []
    if tracing or (tracing is None and telemetry.tracing_enabled()):
        from opentelemetry.instrumentation.grpc import server_interceptor  # noqa: PLC0415

        chain.append(server_interceptor())  # type: ignore[no-untyped-call]
    if request_context:
        chain.append(RequestContextInterceptor())
    if access_log:
        chain.append(AccessLogInterceptor())
    if metrics:
        chain.append(MetricsInterceptor(metrics_registry))
    tokens = [t for t in tokens if (t.get_secret_value() if isinstance(t, SecretStr) else t)]
    allowed_peers = list(allowed_peers)
    if tokens or allowed_peers:
        chain.append(
            ServiceAuthInterceptor(tokens=tokens, allowed_peers=allowed_peers, domain=error_domain)
        )
    chain.append(ErrorsInterceptor(domain=error_domain))
    chain.extend(extra)
    if database is not None:
        chain.append(DbSessionInterceptor(database))
    return chain
