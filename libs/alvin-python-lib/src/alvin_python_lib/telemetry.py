"""OpenTelemetry tracing and optional Sentry error reporting, set up once per process from settings.

::

    class Settings(TelemetrySettings, DatabaseSettings, BaseAppSettings): ...

    configure_telemetry(settings, service_name="user-service", service_version=__version__)
    instrument_sqlalchemy(database.engine)   # no-ops while tracing is off
    instrument_celery()

Settings (with the service's env prefix, e.g. ``USER_SERVICE_OTEL_EXPORTER``):

- ``otel_exporter``: ``none`` (default: nothing of OpenTelemetry is imported, every helper here is a
  no-op), ``console`` (spans as JSON on stdout), ``otlp-grpc`` or ``otlp-http`` (a collector).
- ``otel_endpoint``: the exporter's endpoint; unset, the OpenTelemetry SDK reads the standard
  ``OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT`` variables (defaults: ``localhost:4317`` for gRPC,
  ``http://localhost:4318/v1/traces`` for HTTP; an ``otlp-http`` endpoint is the full URL).
- ``otel_sample_ratio``: the share of new traces kept (parent-based: a sampled caller's decision is
  followed, so a trace is never cut in the middle).
- ``sentry_dsn``: when set, ``sentry_sdk`` is imported and initialised; every event carries the
  request id as the ``request_id`` tag. Unset, Sentry is never imported.

The standard ``OTEL_*`` variables of the SDK (``OTEL_BSP_SCHEDULE_DELAY``, ``OTEL_RESOURCE_ATTRIBUTES``
...) keep working. W3C trace context (``traceparent``) is the propagation format: the gRPC
interceptors of ``alvin_grpc``, the Celery instrumentation and :func:`inject_trace_headers` /
:func:`trace_context` (for rows that carry work across processes, such as an outbox) use it.

Install with the ``telemetry`` extra: ``pip install alvin-python-lib[telemetry]`` (Sentry: ``sentry``).
"""

from __future__ import annotations

import atexit
import os
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings

from alvin_python_lib.logging import get_logger, get_request_id

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from sqlalchemy.engine import Engine

__all__ = [
    "Exporter",
    "TelemetrySettings",
    "configure_telemetry",
    "current_trace_ids",
    "inject_trace_headers",
    "instrument_celery",
    "instrument_redis",
    "instrument_sqlalchemy",
    "shutdown_telemetry",
    "span",
    "trace_context",
    "tracing_enabled",
]

Exporter = Literal["none", "console", "otlp-grpc", "otlp-http"]

_TRACER_NAME = "alvin"
_log = get_logger("alvin_python_lib.telemetry")


class TelemetrySettings(BaseSettings):
    """Tracing and error-reporting settings; mix into a service's settings."""

    otel_exporter: Exporter = Field(
        default="none", description="none | console | otlp-grpc | otlp-http"
    )
    otel_endpoint: str | None = Field(
        default=None, description="exporter endpoint (default: the OTEL_EXPORTER_OTLP_* variables)"
    )
    otel_sample_ratio: float = Field(
        default=1.0, ge=0.0, le=1.0, description="share of new traces recorded"
    )
    sentry_dsn: SecretStr | None = Field(
        default=None, description="Sentry DSN; unset: no error reporting (sentry_sdk not imported)"
    )


class _State:
    provider: TracerProvider | None = None
    sentry: bool = False
    instrumented: set[str] = set()  # noqa: RUF012 - process-wide state on purpose


def tracing_enabled() -> bool:
    """Whether :func:`configure_telemetry` set up tracing in this process."""
    return _State.provider is not None


def configure_telemetry(
    settings: TelemetrySettings,
    *,
    service_name: str,
    service_version: str,
    environment: str | None = None,
    process: str | None = None,
) -> bool:
    """Set up tracing (and Sentry when ``sentry_dsn`` is set) once per process.

    ``process`` (``grpc``, ``worker`` ...) becomes the ``service.instance.role`` resource
    attribute. Returns whether tracing is on. Calling it again replaces nothing: the first
    configuration wins (OpenTelemetry's global tracer provider can be set once).
    """
    if settings.sentry_dsn is not None and not _State.sentry:
        _configure_sentry(
            settings.sentry_dsn.get_secret_value(),
            environment=environment,
            release=f"{service_name}@{service_version}",
        )
    if settings.otel_exporter == "none" or _State.provider is not None:
        return tracing_enabled()

    from opentelemetry import trace  # noqa: PLC0415 - only when tracing is on
    from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased  # noqa: PLC0415

    attributes: dict[str, str] = {
        "service.name": service_name,
        "service.version": service_version,
        "service.instance.id": f"{os.uname().nodename}:{os.getpid()}",
    }
    if environment:
        attributes["deployment.environment.name"] = environment
    if process:
        attributes["service.instance.role"] = process
    provider = TracerProvider(
        resource=Resource.create(attributes),
        sampler=ParentBased(TraceIdRatioBased(settings.otel_sample_ratio)),
        shutdown_on_exit=False,  # shutdown_telemetry() at exit (below) flushes first
    )
    provider.add_span_processor(
        BatchSpanProcessor(_exporter(settings.otel_exporter, settings.otel_endpoint))
    )
    trace.set_tracer_provider(provider)
    _State.provider = provider
    atexit.register(shutdown_telemetry)
    _log.info(
        "telemetry.tracing_enabled",
        exporter=settings.otel_exporter,
        sample_ratio=settings.otel_sample_ratio,
    )
    return True


def _exporter(kind: Exporter, endpoint: str | None) -> Any:
    if kind == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter  # noqa: PLC0415

        return ConsoleSpanExporter(formatter=lambda s: s.to_json(indent=None) + os.linesep)
    if kind == "otlp-grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter as GrpcExporter,
        )

        return GrpcExporter(endpoint=endpoint) if endpoint else GrpcExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
        OTLPSpanExporter as HttpExporter,
    )

    return HttpExporter(endpoint=endpoint) if endpoint else HttpExporter()


def shutdown_telemetry() -> None:
    """Flush the spans still buffered and stop the exporter (also registered with ``atexit``)."""
    provider = _State.provider
    if provider is not None:
        provider.force_flush(5000)
        provider.shutdown()


def _configure_sentry(dsn: str, *, environment: str | None, release: str) -> None:
    import sentry_sdk  # noqa: PLC0415 - only when a DSN is set

    def before_send(event: Any, _hint: Any) -> Any:
        request_id = get_request_id()
        if request_id:
            event.setdefault("tags", {})["request_id"] = request_id
        return event

    sentry_sdk.init(dsn=dsn, environment=environment, release=release, before_send=before_send)
    _State.sentry = True


# --------------------------------------------------------------------------- instrumentations


def instrument_sqlalchemy(engine: Engine) -> None:
    """One span per SQL statement of ``engine`` (statement text without values)."""
    if not tracing_enabled():
        return
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor  # noqa: PLC0415

    # skip_dep_check: the instrumentation declares "sqlalchemy < 2.1" but works with 2.1 (it only
    # listens to engine events); the kit's tests check the spans.
    SQLAlchemyInstrumentor().instrument(engine=engine, enable_commenter=False, skip_dep_check=True)


def instrument_celery() -> None:
    """Publish and run spans for Celery tasks; the trace context travels in the task headers."""
    if not tracing_enabled() or "celery" in _State.instrumented:
        return
    from opentelemetry.instrumentation.celery import CeleryInstrumentor  # noqa: PLC0415

    CeleryInstrumentor().instrument()  # type: ignore[no-untyped-call]
    _State.instrumented.add("celery")


def instrument_redis() -> None:
    """A span per Redis command (off unless called: a broker's polling makes many spans)."""
    if not tracing_enabled() or "redis" in _State.instrumented:
        return
    from opentelemetry.instrumentation.redis import RedisInstrumentor  # noqa: PLC0415

    RedisInstrumentor().instrument()
    _State.instrumented.add("redis")


# --------------------------------------------------------------------------- context helpers


def span(name: str, **attributes: str | int | float | bool) -> Any:
    """A context manager: a hand-made span for a business step (a no-op while tracing is off)."""
    if not tracing_enabled():
        return nullcontext()
    from opentelemetry import trace  # noqa: PLC0415

    return trace.get_tracer(_TRACER_NAME).start_as_current_span(name, attributes=attributes)


def inject_trace_headers(carrier: MutableMapping[str, str]) -> MutableMapping[str, str]:
    """Add the current trace context (``traceparent``) to ``carrier`` and return it."""
    if tracing_enabled():
        from opentelemetry import propagate  # noqa: PLC0415

        propagate.inject(carrier)
    return carrier


@contextmanager
def trace_context(carrier: Mapping[str, Any] | None) -> Iterator[None]:
    """Run the block in the trace context carried by ``carrier`` (e.g. an outbox row's headers)."""
    if not tracing_enabled() or not carrier:
        yield
        return
    from opentelemetry import context, propagate  # noqa: PLC0415

    token = context.attach(propagate.extract({k: str(v) for k, v in carrier.items()}))
    try:
        yield
    finally:
        context.detach(token)


def current_trace_ids() -> tuple[str, str] | None:
    """``(trace_id, span_id)`` in hex of the current span, or None (no span, or tracing off)."""
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:  # never imported: tracing is off, and costs nothing here
        return None
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")
