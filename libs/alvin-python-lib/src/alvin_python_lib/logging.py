"""structlog set up from settings, with a request id on every line.

``configure_logging`` routes both structlog and the standard library's ``logging`` through one
formatter, so lines from SQLAlchemy, Celery or gRPC look like the application's own: JSON lines
(``fmt="json"``, the default in staging and production) or a readable console (development).

The request id lives in a ``ContextVar``: ``bind_request_id`` sets it at the edge of a request, RPC or
task, and every log line emitted in that context carries ``request_id``. Other values (the trace id,
the user id) can be bound the same way with ``structlog.contextvars.bind_contextvars``.

When OpenTelemetry tracing is on (:mod:`alvin_python_lib.telemetry`), every line logged inside a span
also carries ``trace_id`` and ``span_id`` (hex, as trace backends show them); while tracing is off
nothing of OpenTelemetry is imported or looked up.
"""

from __future__ import annotations

import logging
import sys
import uuid
from contextvars import ContextVar
from typing import Any, Literal

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

__all__ = [
    "REQUEST_ID_HEADER",
    "LogFormat",
    "bind_request_id",
    "clear_request_id",
    "configure_logging",
    "get_logger",
    "get_request_id",
    "request_id_var",
]

LogFormat = Literal["json", "console"]

request_id_var: ContextVar[str | None] = ContextVar("alvin_request_id", default=None)

# Header/metadata key used by every transport for the request id.
REQUEST_ID_HEADER = "x-request-id"


def get_request_id() -> str | None:
    """The request id of the current context, or None."""
    return request_id_var.get()


def bind_request_id(request_id: str | None = None) -> str:
    """Bind ``request_id`` (a new random one when None) to the current context and return it."""
    rid = request_id or uuid.uuid4().hex
    request_id_var.set(rid)
    structlog.contextvars.bind_contextvars(request_id=rid)
    return rid


def clear_request_id() -> None:
    """Forget the request id and every other context-bound log value."""
    request_id_var.set(None)
    structlog.contextvars.clear_contextvars()


def _add_request_id(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    # Also covers lines logged from threads or libraries that never bound contextvars themselves.
    rid = request_id_var.get()
    if rid is not None:
        event_dict.setdefault("request_id", rid)
    return event_dict


def _add_trace_ids(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:  # tracing off: OpenTelemetry was never imported
        return event_dict
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        event_dict["trace_id"] = format(ctx.trace_id, "032x")
        event_dict["span_id"] = format(ctx.span_id, "016x")
    return event_dict


def _shared_processors(service: str | None) -> list[Processor]:
    processors: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        _add_request_id,
        _add_trace_ids,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if service:

        def add_service(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
            event_dict.setdefault("service", service)
            return event_dict

        processors.append(add_service)
    return processors


def configure_logging(
    *,
    level: str | int = "INFO",
    fmt: LogFormat = "console",
    service: str | None = None,
    stream: Any = None,
) -> None:
    """Configure structlog and the standard library logging once, at process start.

    ``fmt`` is ``json`` for machine-readable lines or ``console`` for humans; ``service`` is added to
    every line. Safe to call again (tests do): the root handler is replaced, not duplicated.
    """
    shared = _shared_processors(service)
    renderer: Processor
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
        shared = [*shared, structlog.processors.format_exc_info]
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=(stream or sys.stderr).isatty())

    structlog.configure(
        processors=[
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    handler.set_name("alvin")
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == "alvin":
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else level.upper())


def get_logger(name: str | None = None) -> Any:
    """A structlog logger (``structlog.stdlib.BoundLogger``) named ``name``."""
    return structlog.get_logger(name)
