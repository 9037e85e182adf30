"""Prometheus metrics for a Flask app: requests by route, status and GraphQL operation name.

- ``http_requests_total{method,route,status,operation}``
- ``http_request_duration_seconds{method,route,operation}`` (histogram)
- ``graphql_errors_total{code,operation}``: ``/graphql`` responses with errors, once per distinct
  ``extensions.code`` in the response (fifty fields failing on one unavailable call count once,
  so the series compares with ``http_requests_total``). The view reports the codes with
  :func:`record_graphql_errors`; a refusal made outside it (413, 405 ...) counts under the code
  of its HTTP status. ``code`` is one of the codes given to :func:`install_http_metrics`, any
  other is ``OTHER``.

``route`` is the matched URL rule (``/graphql``), never the raw path (``unmatched`` for 404s);
``operation`` is the GraphQL ``operationName`` of a ``/graphql`` request when it is a plain name,
``anonymous`` without one, ``batch`` for a batched request, ``other`` once ``max_operation_names``
distinct names were seen by this process (the label values stay bounded whatever clients send), and
empty for other routes.

Under gunicorn the workers write to ``PROMETHEUS_MULTIPROC_DIR`` and the master serves the sum
(see ``gateway_graphql.app.gunicorn_config``). The metric families are module-level, in
prometheus_client's default registry: a process exports one set of series whatever number of
apps it builds (tests build many), and that registry is what ``/metrics`` and the master serve.
The per-app state (the operation names seen so far) lives in :func:`install_http_metrics`.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from flask import Flask, Response, g, request
from prometheus_client import Counter, Histogram

__all__ = ["OperationNames", "install_http_metrics", "record_graphql_errors", "remember_payload"]

REQUESTS = Counter(
    "http_requests",
    "HTTP requests handled, by route, status and GraphQL operation name.",
    ["method", "route", "status", "operation"],
)
DURATION = Histogram(
    "http_request_duration_seconds",
    "Time to handle an HTTP request (seconds).",
    ["method", "route", "operation"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 10),
)

GRAPHQL_ERRORS = Counter(
    "graphql_errors",
    "GraphQL responses with errors, once per error code in the response, by operation name.",
    ["code", "operation"],
)
OTHER_CODE = "OTHER"

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class OperationNames:
    """Turns client-sent operation names into bounded label values."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def label(self, payload: Any) -> str:
        """The label for a GraphQL request payload (a dict, a list for a batch, or None)."""
        if isinstance(payload, list):
            return "batch"
        name = payload.get("operationName") if isinstance(payload, dict) else None
        if not name:
            return "anonymous"
        if not isinstance(name, str) or not _NAME.match(name):
            return "other"
        with self._lock:
            if name in self._seen:
                return name
            if len(self._seen) < self.limit:
                self._seen.add(name)
                return name
        return "other"


def remember_payload(payload: Any) -> None:
    """Keep the POST payload the GraphQL view parsed, so the metrics do not parse the body again."""
    g.graphql_payload = payload


def record_graphql_errors(codes: Iterable[str]) -> None:
    """Report the ``extensions.code`` of the errors of this request's GraphQL response."""
    recorded: set[str] | None = g.get("graphql_error_codes")
    if recorded is None:
        recorded = g.graphql_error_codes = set()
    recorded.update(codes)


def _payload() -> Any:
    """The GraphQL payload as the view saw it, or None."""
    if request.method == "GET":
        return dict(request.args)
    if "graphql_payload" in g:
        return g.graphql_payload
    try:  # the view refused the body before parsing it (or it is not the GraphQL view)
        if request.is_json:
            return request.get_json(silent=True)
        return dict(request.form) if request.form else None
    except Exception:  # too large, too deep ...: the view refused it already
        return None


def install_http_metrics(
    app: Flask,
    *,
    graphql_path: str = "/graphql",
    max_operation_names: int = 100,
    error_codes: Collection[str] = (),
    code_by_status: Mapping[int, str] | None = None,
) -> None:
    """Count and time every request of ``app`` (see the module docstring).

    ``error_codes`` are the label values ``code`` may take; ``code_by_status`` gives the code of
    a ``graphql_path`` response of 400 or more for which no code was recorded.
    """
    names = OperationNames(max_operation_names)
    known_codes = frozenset(error_codes)
    status_codes = dict(code_by_status or {})

    def count_errors(status: int, operation: str) -> None:
        codes: set[str] | None = g.get("graphql_error_codes")
        if not codes and status >= 400:
            codes = {status_codes.get(status, OTHER_CODE)}
        for code in codes or ():
            GRAPHQL_ERRORS.labels(code if code in known_codes else OTHER_CODE, operation).inc()

    # The labelled series, looked up once per label set (prometheus_client's ``labels`` checks
    # and converts the values and takes a lock on every call). No more entries than the series.
    counters: dict[tuple[str, str, int, str], Any] = {}
    histograms: dict[tuple[str, str, str], Any] = {}

    @app.before_request
    def _start() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        started = g.get("metrics_started")
        rule = request.url_rule
        route = rule.rule if rule is not None else "unmatched"
        method = request.method
        status = response.status_code
        is_graphql = request.path == graphql_path
        if not is_graphql:
            operation = ""
        elif status == 413:  # never read a body that was refused for its size
            operation = "other"
        else:
            operation = names.label(_payload())
        counter_key = (method, route, status, operation)
        counter = counters.get(counter_key)
        if counter is None:
            counter = counters[counter_key] = REQUESTS.labels(method, route, str(status), operation)
        counter.inc()
        if is_graphql and method != "OPTIONS":
            count_errors(status, operation)
        if started is not None:
            histogram_key = (method, route, operation)
            histogram = histograms.get(histogram_key)
            if histogram is None:
                histogram = histograms[histogram_key] = DURATION.labels(*histogram_key)
            histogram.observe(time.perf_counter() - started)
        return response
