"""Bind the caller's request id to the logs for the call and echo it in trailing metadata."""

from __future__ import annotations

import re
import uuid
from collections.abc import Generator
from typing import Any

import grpc
from structlog.contextvars import bind_contextvars

from alvin_grpc.interceptors.base import CallInfo, Continuation, ServerInterceptor
from alvin_python_lib.logging import REQUEST_ID_HEADER, bind_request_id, clear_request_id

__all__ = ["TRACEPARENT_HEADER", "RequestContextInterceptor"]

TRACEPARENT_HEADER = "traceparent"

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:/+=-]{1,128}$")
_TRACEPARENT_RE = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


class RequestContextInterceptor(ServerInterceptor):
    """Bind the caller's request id for the call's duration and echo it in trailing metadata.

    The id is the ``x-request-id`` metadata value when it looks sane (1-128 characters of
    ``[A-Za-z0-9._:/+=-]``), else the trace id of a valid W3C ``traceparent``, else a new uuid4 hex.
    A valid ``traceparent`` also binds ``trace_id`` and ``parent_span_id`` to the log context.
    """

    def __init__(self, *, header: str = REQUEST_ID_HEADER, echo: bool = True) -> None:
        self.header = header
        self.echo = echo

    def intercept(
        self,
        method: Continuation,
        request_or_iterator: Any,
        context: grpc.ServicerContext,
        call: CallInfo,
    ) -> Generator[Any, None, Any]:
        rid = self._begin(context)
        try:
            return (yield from method(request_or_iterator, context))
        finally:
            self._end(context, rid)

    def _begin(self, context: grpc.ServicerContext) -> str:
        clear_request_id()  # a pool thread may carry a previous call's context
        incoming = traceparent = None
        for key, value in context.invocation_metadata() or ():
            if key == self.header and incoming is None:
                incoming = _text(value)
            elif key == TRACEPARENT_HEADER and traceparent is None:
                traceparent = _text(value)
        trace = _parse_traceparent(traceparent)
        if incoming is not None and _REQUEST_ID_RE.match(incoming):
            rid = incoming
        elif trace is not None:
            rid = trace[0]
        else:
            rid = uuid.uuid4().hex
        bind_request_id(rid)
        if trace is not None:
            bind_contextvars(trace_id=trace[0], parent_span_id=trace[1])
        return rid

    def _end(self, context: grpc.ServicerContext, rid: str) -> None:
        try:
            if self.echo:
                existing = _trailing(context)
                if not any(key == self.header for key, _ in existing):
                    context.set_trailing_metadata((*existing, (self.header, rid)))
        finally:
            clear_request_id()


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _trailing(context: grpc.ServicerContext) -> tuple[tuple[str, str | bytes], ...]:
    getter = getattr(context, "trailing_metadata", None)
    value = getter() if callable(getter) else None
    return tuple(value) if value else ()


def _parse_traceparent(value: str | None) -> tuple[str, str] | None:
    """(trace_id, parent_id) of a valid W3C traceparent, else None."""
    if not value:
        return None
    match = _TRACEPARENT_RE.match(value.strip().lower())
    if match is None or match.group(1) == "ff":
        return None
    trace_id, parent_id = match.group(2), match.group(3)
    if set(trace_id) == {"0"} or set(parent_id) == {"0"}:
        return None
    return trace_id, parent_id
