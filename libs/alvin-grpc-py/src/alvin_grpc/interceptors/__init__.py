"""Server interceptors: one hook (:class:`ServerInterceptor`), one module per interceptor.

:func:`server_interceptors` composes them (outermost first; ``grpc.server(interceptors=[...])``
runs the first one first):

0. OpenTelemetry's server interceptor, when tracing is on (:mod:`alvin_python_lib.telemetry`).
1. :class:`RequestContextInterceptor`: reads ``x-request-id`` (or the trace id of a W3C
   ``traceparent``, or makes a new id), binds it for logging, returns it in trailing metadata.
   Outermost, so that every line the others log carries the request id.
2. :class:`AccessLogInterceptor`: one structured line per call (method, code, duration_ms, peer,
   request_id), rejected and failed calls included.
3. :class:`MetricsInterceptor`: Prometheus counters and histogram (go-grpc-prometheus names).
4. :class:`ServiceAuthInterceptor`: shared token or mTLS peer allow-list; health stays open
   (reflection needs the credential like the API). Before the handler and the database, after
   the observers (rejections are logged/counted).
5. :class:`ErrorsInterceptor`: domain exceptions -> status codes with ``google.rpc.Status`` details;
   a database that cannot serve -> ``UNAVAILABLE``; anything else -> ``INTERNAL`` with a generic
   message (traceback in the server log only).
6. :class:`DbSessionInterceptor`: statements bounded by the call's deadline, and
   ``database.remove()`` after every call, also when it raised (innermost: it runs in the
   handler's thread, before the error is mapped).

Every interceptor handles the four RPC kinds. For a streamed response, the part after
``yield from method(...)`` runs when the stream ends (exhausted, failed, or cancelled by the client).
Handlers marked ``experimental_non_blocking`` (grpcio's health ``Watch``) keep their callback style;
only the authentication checks them (see :class:`ServerInterceptor`).
"""

from alvin_grpc.interceptors.access_log import AccessLogInterceptor
from alvin_grpc.interceptors.base import (
    CallInfo,
    Continuation,
    ServerInterceptor,
    context_code,
    final_code,
    metadata_value,
)
from alvin_grpc.interceptors.chain import server_interceptors
from alvin_grpc.interceptors.db_session import DbSessionInterceptor
from alvin_grpc.interceptors.errors import ErrorsInterceptor
from alvin_grpc.interceptors.metrics import GO_CODE_NAMES, MetricsInterceptor, ServerMetrics
from alvin_grpc.interceptors.request_context import TRACEPARENT_HEADER, RequestContextInterceptor
from alvin_grpc.interceptors.service_auth import (
    MIN_SERVICE_TOKEN_LENGTH,
    OPEN_SERVICES,
    ServiceAuthInterceptor,
)
from alvin_python_lib.metrics import MetricsServer, start_metrics_server

__all__ = [
    "GO_CODE_NAMES",
    "MIN_SERVICE_TOKEN_LENGTH",
    "OPEN_SERVICES",
    "TRACEPARENT_HEADER",
    "AccessLogInterceptor",
    "CallInfo",
    "Continuation",
    "DbSessionInterceptor",
    "ErrorsInterceptor",
    "MetricsInterceptor",
    "MetricsServer",
    "RequestContextInterceptor",
    "ServerInterceptor",
    "ServerMetrics",
    "ServiceAuthInterceptor",
    "context_code",
    "final_code",
    "metadata_value",
    "server_interceptors",
    "start_metrics_server",
]
