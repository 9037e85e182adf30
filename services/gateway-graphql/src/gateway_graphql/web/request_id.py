"""Request ids for a Flask app: read ``X-Request-ID`` or make one, bind it, echo it, log access.

``install_request_id(app)`` binds the id with :func:`alvin_python_lib.logging.bind_request_id`
for the whole request, so every log line carries ``request_id`` and the gRPC client interceptor of
``alvin_grpc`` sends it on as ``x-request-id`` metadata. The response gets the same header, and
one ``http.access`` line is logged per request (method, path, status, duration).
"""

from __future__ import annotations

import re
import time
import uuid

from flask import Flask, Response, g, request

from alvin_python_lib.logging import bind_request_id, clear_request_id, get_logger

__all__ = ["REQUEST_ID_HEADER", "install_request_id", "valid_request_id"]

REQUEST_ID_HEADER = "X-Request-ID"
# The same rule as the gRPC side (alvin_grpc's RequestContextInterceptor): anything else is
# replaced, so that a caller cannot inject arbitrary text into logs and metadata.
_VALID = re.compile(r"^[A-Za-z0-9._:/+=-]{1,128}$")

_log = get_logger("gateway_graphql.http")


def valid_request_id(value: str | None) -> str | None:
    """``value`` when it is an acceptable request id, else None."""
    return value if value is not None and _VALID.match(value) else None


def install_request_id(app: Flask, *, quiet_paths: frozenset[str] = frozenset()) -> None:
    """Bind, echo and log the request id of every request of ``app``.

    Requests to ``quiet_paths`` (health probes) are logged at debug level only.
    """

    @app.before_request
    def _bind() -> None:
        incoming = valid_request_id(request.headers.get(REQUEST_ID_HEADER))
        g.request_id = bind_request_id(incoming or uuid.uuid4().hex)
        g.request_started = time.perf_counter()

    @app.after_request
    def _echo(response: Response) -> Response:
        request_id = g.get("request_id")
        if request_id:
            response.headers[REQUEST_ID_HEADER] = request_id
        started = g.get("request_started")
        duration_ms = round((time.perf_counter() - started) * 1000, 2) if started else None
        path = request.path
        log = _log.debug if path in quiet_paths else _log.info
        log(
            "http.access",
            method=request.method,
            path=path,
            status=response.status_code,
            duration_ms=duration_ms,
            remote_addr=request.remote_addr,
        )
        return response

    @app.teardown_request
    def _clear(_: BaseException | None) -> None:
        clear_request_id()
