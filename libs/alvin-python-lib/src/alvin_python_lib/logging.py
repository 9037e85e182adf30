"""structlog set up from settings, with a request id on every line.

``configure_logging`` routes both structlog and the standard library's ``logging`` through one
formatter, so lines from SQLAlchemy, Celery or gRPC look like the application's own: JSON lines
(``fmt="json"``, the default in staging and production) or a readable console (development).

The request id lives in a ``ContextVar``: ``bind_request_id`` sets it at the edge of a request, RPC or
task, and every log line emitted in that context carries ``request_id``. Other values (the trace id,
the user id) can be bound the same way with ``structlog.contextvars.bind_contextvars``.

Lines of structlog loggers below ``WARNING`` (the access lines of every request and RPC) are
rendered once and written straight to the stream, under the handler's lock: going through a
standard-library ``LogRecord`` and formatter cost three times as much per line. Warnings and errors
still go through the standard library, so handlers added to it (Sentry's) see them, and the level
of each named standard-library logger still decides what is written.

JSON lines are encoded with orjson, falling back to the standard library for what orjson refuses
(an integer wider than 64 bits): the encoder was the largest single cost of an access line.

When OpenTelemetry tracing is on (:mod:`alvin_python_lib.telemetry`), every line logged inside a span
also carries ``trace_id`` and ``span_id`` (hex, as trace backends show them); while tracing is off
nothing of OpenTelemetry is imported or looked up.
"""

from __future__ import annotations

import json
import logging
import sys
import uuid
from contextvars import ContextVar
from typing import Any, Literal

import orjson
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
        renderer = structlog.processors.JSONRenderer(serializer=_json_line)
        shared = [*shared, structlog.processors.format_exc_info]
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=(stream or sys.stderr).isatty())

    handler = logging.StreamHandler(stream or sys.stderr)
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            _RouteByLevel(renderer),
        ],
        logger_factory=_LineLoggerFactory(handler),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached: tests (and apps) call configure_logging again, and loggers made at import
        # time must follow the new configuration.
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler.setFormatter(formatter)
    handler.set_name("alvin")
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == "alvin":
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else level.upper())


_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS


def _json_line(event_dict: EventDict, *, default: Any) -> str:
    try:
        return orjson.dumps(event_dict, default=default, option=_ORJSON_OPTIONS).decode()
    except orjson.JSONEncodeError:
        return json.dumps(event_dict, default=default)


def get_logger(name: str | None = None) -> Any:
    """A structlog logger (``structlog.stdlib.BoundLogger``) named ``name`` (default: the calling
    module's name); its level is that of the standard-library logger of the same name."""
    if name is None:
        name = sys._getframe(1).f_globals.get("__name__", "root")
    return structlog.get_logger(name)


_DIRECT_METHODS = frozenset({"debug", "info", "msg"})


class _RouteByLevel:
    """The last processor: below ``WARNING`` the rendered line (written by :class:`_LineLogger`),
    else the event for the standard library's ``ProcessorFormatter``."""

    def __init__(self, renderer: Processor) -> None:
        self._renderer = renderer

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> Any:
        if method_name in _DIRECT_METHODS:
            return self._renderer(logger, method_name, event_dict)
        return structlog.stdlib.ProcessorFormatter.wrap_for_formatter(
            logger, method_name, event_dict
        )


class _LineLogger:
    """What structlog hands its events to: debug and info lines arrive rendered and are written
    to the handler's stream; the other levels go to the standard-library logger of that name."""

    def __init__(self, handler: logging.StreamHandler[Any], stdlib: logging.Logger) -> None:
        self._handler = handler
        self._stdlib = stdlib
        self.name = stdlib.name

    def _write(self, line: str) -> None:
        handler = self._handler
        handler.acquire()  # the lock stdlib lines are written under: lines never interleave
        try:
            handler.stream.write(line + "\n")
            handler.flush()
        finally:
            handler.release()

    debug = info = msg = _write

    def __getattr__(self, name: str) -> Any:  # warning, error, isEnabledFor, level, ...
        return getattr(self._stdlib, name)


class _LineLoggerFactory:
    def __init__(self, handler: logging.StreamHandler[Any]) -> None:
        self._handler = handler

    def __call__(self, *args: Any) -> _LineLogger:
        name = args[0] if args and isinstance(args[0], str) else None
        return _LineLogger(self._handler, logging.getLogger(name))
