"""Bound each call's statements by its deadline and remove its database session when it ends."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import grpc

from alvin_grpc.interceptors.base import CallInfo, Continuation, ServerInterceptor
from alvin_python_lib.db import SupportsRemove, statement_deadline
from alvin_python_lib.logging import get_logger

__all__ = ["DbSessionInterceptor"]


class DbSessionInterceptor(ServerInterceptor):
    """Call ``database.remove()`` when each call ends, also when it raised; and bound each
    transaction's statements by the call's deadline
    (:func:`alvin_python_lib.db.statement_deadline`), so that a slow database frees the handler
    thread when the client gives up instead of starving the server (health checks included).

    For a streamed response: when the stream ends. The call runs in the handler's thread, which
    is what a thread-scoped SQLAlchemy ``scoped_session`` needs. A failing ``remove()`` is logged and
    does not replace the call's own outcome.
    """

    def __init__(self, database: SupportsRemove) -> None:
        self.database = database
        self._log = get_logger("alvin_grpc.db")

    def intercept(
        self,
        method: Continuation,
        request_or_iterator: Any,
        context: grpc.ServicerContext,
        call: CallInfo,
    ) -> Generator[Any, None, Any]:
        try:
            with statement_deadline(context.time_remaining()):
                return (yield from method(request_or_iterator, context))
        finally:
            try:
                self.database.remove()
            except Exception:
                self._log.exception("grpc.db_remove_failed", method=call.method)
