"""OpenTelemetry tracing and optional Sentry error reporting, set up once per process from settings.

::

    class Settings(TelemetrySettings, DatabaseSettings, BaseAppSettings): ...

    configure_telemetry(settings, service_name="user-service", service_version=__version__)
    instrument_sqlalchemy(database.engine)   # no-ops while tracing is off
    instrument_celery()

Settings (with the service's env prefix, e.g. ``USER_SERVICE_OTEL_EXPORTER``) are defaults: the
standard variables of the OpenTelemetry SDK, when set, win.

- ``otel_exporter``: ``none`` (default: nothing of OpenTelemetry is imported, every helper here is a
  no-op), ``console`` (spans as JSON on stdout), ``otlp-grpc`` or ``otlp-http`` (a collector).
  ``OTEL_TRACES_EXPORTER`` (``otlp``, ``console``, ``none``, a comma-separated list; ``otlp`` over
  ``OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL``, ``grpc`` or ``http/protobuf``, gRPC when unset as in the
  Python SDK) replaces it; so does that protocol variable for the ``otlp-*`` settings.
  ``OTEL_SDK_DISABLED=true`` turns tracing off.
- ``otel_endpoint``: the exporter's endpoint (an ``otlp-http`` endpoint is the full URL), used
  only when neither ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` nor ``OTEL_EXPORTER_OTLP_ENDPOINT`` is
  set (defaults: ``localhost:4317`` for gRPC, ``http://localhost:4318/v1/traces`` for HTTP). The
  exporters read the other ``OTEL_EXPORTER_OTLP_*`` variables (headers, timeout, compression,
  certificates) themselves.
- ``otel_sample_ratio``: the share of new traces kept, parent-based (a sampled caller's decision is
  followed, so a trace is never cut in the middle): ``parentbased_traceidratio`` with this ratio.
  ``OTEL_TRACES_SAMPLER`` (with ``OTEL_TRACES_SAMPLER_ARG``) replaces the sampler;
  ``OTEL_TRACES_SAMPLER_ARG`` alone replaces the ratio.
- ``sentry_dsn``: when set, ``sentry_sdk`` is imported and initialised; every event carries the
  request id as the ``request_id`` tag. Unset, Sentry is never imported.

Resource attributes use the semantic-convention names: ``service.name``, ``service.version``,
``service.instance.id`` (a UUID per process), ``deployment.environment.name``, ``host.name``,
``process.pid``; the process type (``grpc``, ``worker``, ``web`` ...) is ``alvin.process.role``
(no convention names it). ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES`` override them.
Instrumentations emit the stable HTTP and database conventions (``http.request.method``,
``db.query.text`` ...): ``OTEL_SEMCONV_STABILITY_OPT_IN`` defaults to ``http,database`` (set it to
``http/dup,database/dup`` to emit the old names too while dashboards move).

Other ``OTEL_*`` variables of the SDK (``OTEL_BSP_SCHEDULE_DELAY`` ...) keep working. W3C trace
context (``traceparent``) is the propagation format: the gRPC interceptors of ``alvin_grpc``, the
Celery instrumentation and :func:`inject_trace_headers` / :func:`trace_context` (for rows that carry
work across processes, such as an outbox) use it.

Install with the ``telemetry`` extra: ``pip install alvin-python-lib[telemetry]`` (Sentry: ``sentry``).
"""

from __future__ import annotations

import atexit
import os
import socket
import sys
import uuid
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

_ROLE_ATTRIBUTE = "alvin.process.role"
_SEMCONV_OPT_IN = "OTEL_SEMCONV_STABILITY_OPT_IN"
_OTLP_BY_PROTOCOL: dict[str, Exporter] = {"grpc": "otlp-grpc", "http/protobuf": "otlp-http"}
# OTEL_TRACES_EXPORTER names: the specification's, and the Python SDK's entry-point names
_EXPORTER_BY_NAME: dict[str, Exporter] = {
    "console": "console",
    "otlp_proto_grpc": "otlp-grpc",
    "otlp_proto_http": "otlp-http",
}

_TRACER_NAME = "alvin"
_log = get_logger("alvin_python_lib.telemetry")


class TelemetrySettings(BaseSettings):
    """Tracing and error-reporting settings; mix into a service's settings."""

    otel_exporter: Exporter = Field(
        default="none",
        description="none | console | otlp-grpc | otlp-http (OTEL_TRACES_EXPORTER wins when set)",
    )
    otel_endpoint: str | None = Field(
        default=None,
        description="exporter endpoint (OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT win when set)",
    )
    otel_sample_ratio: float = Field(
        default=1.0,
        ge=0.0,
        le=1.0,
        description="share of new traces recorded (OTEL_TRACES_SAMPLER[_ARG] win when set)",
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

    ``process`` (``grpc``, ``worker`` ...) becomes the ``alvin.process.role`` resource
    attribute. The standard ``OTEL_*`` variables win over ``settings`` (see the module
    docstring). Returns whether tracing is on. Calling it again replaces nothing: the first
    configuration wins (OpenTelemetry's global tracer provider can be set once).
    """
    if settings.sentry_dsn is not None and not _State.sentry:
        _configure_sentry(
            settings.sentry_dsn.get_secret_value(),
            environment=environment,
            release=f"{service_name}@{service_version}",
        )
    if _State.provider is not None:
        return True
    exporters = _exporter_kinds(settings)
    if not exporters:
        return False
    # Before any instrumentation reads it (once per process): the stable conventions.
    os.environ.setdefault(_SEMCONV_OPT_IN, "http,database")

    from opentelemetry import trace  # noqa: PLC0415 - only when tracing is on
    from opentelemetry.sdk.resources import OTELResourceDetector, Resource  # noqa: PLC0415
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased  # noqa: PLC0415

    attributes: dict[str, str | int] = {
        "service.name": service_name,
        "service.version": service_version,
        "service.instance.id": str(uuid.uuid4()),
        "host.name": socket.gethostname(),
        "process.pid": os.getpid(),
    }
    if environment:
        attributes["deployment.environment.name"] = environment
    if process:
        attributes[_ROLE_ATTRIBUTE] = process
    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over the kit's values.
    resource = Resource.create(attributes).merge(OTELResourceDetector().detect())
    ratio = _sample_ratio(settings.otel_sample_ratio)
    provider = TracerProvider(
        resource=resource,
        # None: the SDK builds the sampler from OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG
        sampler=None if _env("OTEL_TRACES_SAMPLER") else ParentBased(TraceIdRatioBased(ratio)),
        shutdown_on_exit=False,  # shutdown_telemetry() at exit (below) flushes first
    )
    for kind in exporters:
        provider.add_span_processor(BatchSpanProcessor(_exporter(kind, settings.otel_endpoint)))
    trace.set_tracer_provider(provider)
    _State.provider = provider
    atexit.register(shutdown_telemetry)
    _log.info(
        "telemetry.tracing_enabled",
        exporters=list(exporters),
        sampler=_env("OTEL_TRACES_SAMPLER") or f"parentbased_traceidratio:{ratio}",
    )
    return True


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def _otlp_protocol() -> Exporter | None:
    protocol = _env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or _env("OTEL_EXPORTER_OTLP_PROTOCOL")
    if protocol is None:
        return None
    if protocol not in _OTLP_BY_PROTOCOL:
        raise ValueError(
            f"OTLP protocol {protocol!r} is not supported here (grpc or http/protobuf)"
        )
    return _OTLP_BY_PROTOCOL[protocol]


def _exporter_kinds(settings: TelemetrySettings) -> tuple[Exporter, ...]:
    """The span exporters this process uses: the standard variables first, then ``settings``.

    Raises ``ValueError`` for an exporter or OTLP protocol it does not know.
    """
    if (_env("OTEL_SDK_DISABLED") or "").lower() == "true":
        return ()
    names = _env("OTEL_TRACES_EXPORTER")
    if names is None:
        if settings.otel_exporter in ("otlp-grpc", "otlp-http"):
            return (_otlp_protocol() or settings.otel_exporter,)
        return () if settings.otel_exporter == "none" else (settings.otel_exporter,)
    kinds: list[Exporter] = []
    for name in (part.strip().lower() for part in names.split(",")):
        if name == "none":
            return ()
        if name == "otlp":
            kinds.append(_otlp_protocol() or "otlp-grpc")  # the Python SDK's default
        elif name in _EXPORTER_BY_NAME:
            kinds.append(_EXPORTER_BY_NAME[name])
        else:
            raise ValueError(
                f"OTEL_TRACES_EXPORTER: unknown exporter {name!r} (otlp, console or none)"
            )
    return tuple(dict.fromkeys(kinds))


def _sample_ratio(default: float) -> float:
    """``OTEL_TRACES_SAMPLER_ARG`` when it is a ratio (0 to 1), else ``default``."""
    arg = _env("OTEL_TRACES_SAMPLER_ARG")
    if arg is None:
        return default
    try:
        ratio = float(arg)
    except ValueError:
        ratio = -1.0
    if not 0.0 <= ratio <= 1.0:
        _log.warning("telemetry.bad_sampler_arg", value=arg, used=default)
        return default
    return ratio


def _exporter(kind: Exporter, endpoint: str | None) -> Any:
    if _env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or _env("OTEL_EXPORTER_OTLP_ENDPOINT"):
        endpoint = None  # the exporter reads the standard variable itself
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

    # Local variables of a failing frame hold emails, passwords and tokens: never sent.
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release,
        before_send=before_send,
        include_local_variables=False,
    )
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
