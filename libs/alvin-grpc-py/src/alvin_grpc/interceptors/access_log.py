"""Log one structured line per call: method, final code, duration, peer, request id."""

from __future__ import annotations

import time
from collections.abc import Generator, Iterable
from typing import Any

import grpc
from grpc_health.v1.health import SERVICE_NAME as HEALTH_SERVICE

from alvin_grpc.interceptors.base import CallInfo, Continuation, ServerInterceptor, final_code
from alvin_python_lib.logging import get_logger, get_request_id

__all__ = ["AccessLogInterceptor"]

_SERVER_ERROR_CODES = frozenset(
    {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.DATA_LOSS}
)


class AccessLogInterceptor(ServerInterceptor):
    """One structured line per call: ``grpc.access`` with method, code, duration_ms, peer,
    request_id (plus service, grpc_type). Info level; warning for UNKNOWN/INTERNAL/DATA_LOSS.

    Health checks are not logged by default (``skip_services``): probes every few seconds would
    drown the real traffic.
    """

    def __init__(
        self,
        *,
        logger: Any = None,
        event: str = "grpc.access",
        skip_services: Iterable[str] = (HEALTH_SERVICE,),
    ) -> None:
        self.logger = logger if logger is not None else get_logger("alvin_grpc.access")
        self.event = event
        self.skip_services = frozenset(skip_services)

    def intercept(
        self,
        method: Continuation,
        request_or_iterator: Any,
        context: grpc.ServicerContext,
        call: CallInfo,
    ) -> Generator[Any, None, Any]:
        started = time.perf_counter()
        try:
            response = yield from method(request_or_iterator, context)
        except BaseException as error:  # GeneratorExit too: the client cancelled a stream
            self._log(call, context, final_code(context, error), started)
            raise
        self._log(call, context, final_code(context), started)
        return response

    def _log(
        self, call: CallInfo, context: grpc.ServicerContext, code: grpc.StatusCode, started: float
    ) -> None:
        duration_ms = round((time.perf_counter() - started) * 1000, 3)
        log = self.logger.warning if code in _SERVER_ERROR_CODES else self.logger.info
        try:
            peer = context.peer()
        except Exception:  # the peer is informative only
            peer = "unknown"
        log(
            self.event,
            method=call.method,
            service=call.service,
            grpc_type=call.kind,
            code=code.name,
            duration_ms=duration_ms,
            peer=peer,
            request_id=get_request_id(),
        )
