"""Map exceptions raised by handlers to gRPC statuses with ``google.rpc.Status`` details."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, NoReturn

import grpc

from alvin_grpc.errors import (
    DEFAULT_ERROR_DOMAIN,
    abort_with_error,
    abort_with_status,
    internal_rpc_status,
)
from alvin_grpc.interceptors.base import (
    CallInfo,
    Continuation,
    ServerInterceptor,
    context_code,
)
from alvin_python_lib.db.errors import unavailable_error
from alvin_python_lib.errors import DomainError
from alvin_python_lib.logging import get_logger

__all__ = ["ErrorsInterceptor"]


class ErrorsInterceptor(ServerInterceptor):
    """Map exceptions to statuses (see :mod:`alvin_grpc.errors`).

    - :class:`~alvin_python_lib.errors.DomainError`: its status code, its message, and a
      ``google.rpc.Status`` with ErrorInfo (``domain``), BadRequest, RetryInfo details.
    - ``context.abort(...)`` by the handler, or anything raised once the client has gone: left as
      it is.
    - a database that cannot serve now (connection refused or lost, pool exhausted, statement
      timeout: see :func:`alvin_python_lib.db.errors.unavailable_error`): ``UNAVAILABLE``, so
      that callers fail fast and may retry; a warning goes to the server log.
    - anything else: ``INTERNAL`` with ``"Internal error."``; the traceback goes to the server log
      only (never to the client: grpcio would otherwise send ``Exception calling application: ...``).
    """

    def __init__(self, *, domain: str = DEFAULT_ERROR_DOMAIN, logger: Any = None) -> None:
        self.domain = domain
        self._log = logger if logger is not None else get_logger("alvin_grpc.errors")

    def intercept(
        self,
        method: Continuation,
        request_or_iterator: Any,
        context: grpc.ServicerContext,
        call: CallInfo,
    ) -> Generator[Any, None, Any]:
        try:
            return (yield from method(request_or_iterator, context))
        except Exception as error:
            if _is_abort(error, context):
                raise
            self._handle(error, context, call)

    def _handle(self, error: Exception, context: grpc.ServicerContext, call: CallInfo) -> NoReturn:
        if isinstance(error, DomainError):
            abort_with_error(context, error, domain=self.domain)
        unavailable = unavailable_error(error)
        if unavailable is not None:
            self._log.warning(
                "grpc.dependency_unavailable",
                method=call.method,
                exc_type=type(error).__name__,
                error=str(error).splitlines()[0][:300] if str(error) else "",
            )
            abort_with_error(context, unavailable, domain=self.domain)
        # Called from the except block: the traceback goes to the server log with the line.
        self._log.exception(
            "grpc.unhandled_exception", method=call.method, exc_type=type(error).__name__
        )
        abort_with_status(context, internal_rpc_status())


def _is_abort(error: Exception, context: grpc.ServicerContext) -> bool:
    """True for the exception ``context.abort()`` raises (a bare ``Exception()``, code set), and
    for whatever a call that is already over raises (e.g. the request iterator of a cancelled
    stream): nothing can be sent to that client any more."""
    if type(error) is Exception and not error.args and context_code(context) is not None:
        return True
    try:
        return not context.is_active()
    except Exception:  # a context without a live call
        return True
