"""Observability of the running stack: one trace from the browser to the worker, metrics, log ids.

Every process of the stack exports its spans over OTLP/HTTP to a receiver in this test process and
serves Prometheus metrics on a port of its own (see conftest.py). A signup through the public
GraphQL API, sent with a W3C ``traceparent`` as a browser's tracing would send it, must come back
as one trace: gateway HTTP span -> gRPC client span -> user-service gRPC server span -> SQL spans,
and -> the scheduler's Celery publish span (through the outbox row) -> the worker's task span -> its
SQL spans, every parent link pointing at a span of the same trace.
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.request
import uuid
from collections.abc import Callable

import pytest
from conftest import LocalStack as Stack
from gql import Client, GraphQLRequest, gql
from gql.transport.requests import RequestsHTTPTransport
from otlp_receiver import Span
from prometheus_client.parser import text_string_to_metric_families

# traces and metrics are read from the local processes' own exporters and ports
pytestmark = [pytest.mark.local_stack, pytest.mark.split_topology]

SIGNUP = gql(
    """
    mutation Signup($input: SignupInput!) {
      signup(input: $input) { ok errors { field message code } }
    }
    """
)
SERVER, CLIENT, PRODUCER, CONSUMER = 2, 3, 4, 5
SIGNUP_RPC = "/alvin.user.v1.UserService/SignUp"  # what the signup mutation calls
WELCOME_TASK = "user_service.send_welcome_email"


def signup(stack: Stack, *, request_id: str, traceparent: str | None = None) -> None:
    """A signup through GraphQL over HTTP, with the headers a browser app would send."""
    headers = {"X-Request-ID": request_id}
    if traceparent:
        headers["traceparent"] = traceparent
    transport = RequestsHTTPTransport(url=stack.graphql_url, headers=headers, timeout=15)
    variables = {
        "input": {
            "email": f"obs-{uuid.uuid4().hex[:8]}@example.com",
            "password": "an e2e password",
            "displayName": "Observed",
        }
    }
    with Client(transport=transport, fetch_schema_from_transport=False) as session:
        request = GraphQLRequest(SIGNUP, variable_values=variables, operation_name="Signup")
        result = dict(session.execute(request))
    assert result["signup"] == {"ok": True, "errors": []}, result


def _find(spans: list[Span], predicate: Callable[[Span], bool]) -> list[Span]:
    found = [span for span in spans if predicate(span)]
    assert found, "no such span in:\n" + "\n".join(
        sorted(f"{s.service}/{s.role} kind={s.kind} {s.name}" for s in spans)
    )
    return found


def _complete(spans: list[Span]) -> bool:
    """Every hop of the signup has been exported, including the worker's SQL.

    Each process exports on its own schedule: the worker's spans can arrive before the
    scheduler's publish span, so both ends of the outbox hop are waited for.
    """
    run = [s for s in spans if s.kind == CONSUMER and WELCOME_TASK in s.name]
    published = any(s.kind == PRODUCER and WELCOME_TASK in s.name for s in spans)
    return (
        published
        and bool(run)
        and any(
            s.parent_span_id == run[0].span_id and s.attributes.get("db.query.text") for s in spans
        )
    )


def test_one_trace_from_the_browser_to_the_worker(stack: Stack) -> None:
    assert stack.traces is not None
    trace_id, browser_span = secrets.token_hex(16), secrets.token_hex(8)
    request_id = f"obs-{uuid.uuid4().hex[:12]}"
    signup(stack, request_id=request_id, traceparent=f"00-{trace_id}-{browser_span}-01")

    spans = stack.traces.wait_for(trace_id, _complete, timeout=45)
    summary = sorted(f"{s.service}/{s.role} {s.kind} {s.name}" for s in spans)
    assert _complete(spans), f"incomplete trace:\n{json.dumps(summary, indent=1)}"
    by_id = {span.span_id: span for span in spans}

    # Gateway: the HTTP server span continues the browser's span.
    (http,) = _find(spans, lambda s: s.service == "gateway-graphql" and s.kind == SERVER)
    assert http.parent_span_id == browser_span
    assert http.role == "web"
    # -> gRPC client span (gateway) -> gRPC server span (user-service).
    (client,) = _find(spans, lambda s: s.kind == CLIENT and s.name == SIGNUP_RPC)
    assert client.service == "gateway-graphql"
    assert _ancestors(client, by_id)[0] is http or http in _ancestors(client, by_id)
    (server,) = _find(spans, lambda s: s.kind == SERVER and s.name == SIGNUP_RPC)
    assert (server.service, server.role) == ("user-service", "grpc")
    assert server.parent_span_id == client.span_id
    # -> the business span and the SQL statements of the signup, inside the server span.
    (hashing,) = _find(spans, lambda s: s.name == "password.hash")
    assert server in _ancestors(hashing, by_id)
    inserts = _find(
        spans,
        lambda s: (
            s.role == "grpc" and str(s.attributes.get("db.query.text", "")).startswith("INSERT")
        ),
    )
    assert {"users", "outbox"} <= {_table(s) for s in inserts}, [s.name for s in inserts]
    assert all(server in _ancestors(s, by_id) for s in inserts)
    # -> the outbox row carried the context: the scheduler's publish span is a child of the RPC.
    (publish,) = _find(spans, lambda s: s.kind == PRODUCER and WELCOME_TASK in s.name)
    assert (publish.service, publish.role) == ("user-service", "scheduler")
    assert server in _ancestors(publish, by_id)
    # -> the worker's task span, and its SQL.
    (task,) = _find(spans, lambda s: s.kind == CONSUMER and WELCOME_TASK in s.name)
    assert task.role == "worker"
    assert task.parent_span_id == publish.span_id
    worker_sql = _find(spans, lambda s: s.parent_span_id == task.span_id and s.role == "worker")
    assert worker_sql

    # Every parent link resolves inside the trace, except the root's link to the browser.
    for span in spans:
        assert span.parent_span_id in by_id or span is http, (span.name, span.role)

    # The trace id and the request id are on the log lines of every process.
    for process in ("gateway", "grpc", "worker", "scheduler"):
        records = [
            record for record in stack.json_lines_of(process) if record.get("trace_id") == trace_id
        ]
        assert records, f"no {process} log line with the trace id"
        assert any(r.get("request_id") == request_id for r in records), process
        assert all(len(r.get("span_id", "")) == 16 for r in records), process
    (done,) = [
        r
        for r in stack.json_lines_of("worker")
        if r.get("event") == "task.done"
        and r.get("request_id") == request_id
        and r.get("task") == WELCOME_TASK  # the verification email's task ran too
    ]
    assert done["state"] == "SUCCESS"
    assert done["duration_ms"] > 0


def _ancestors(span: Span, by_id: dict[str, Span]) -> list[Span]:
    found = []
    while span.parent_span_id in by_id:
        span = by_id[span.parent_span_id]
        found.append(span)
    return found


def _table(span: Span) -> str:
    words = str(span.attributes.get("db.query.text", "")).split()
    return words[2].strip('"') if len(words) > 2 else ""


# --------------------------------------------------------------------------- metrics


def scrape(stack: Stack, process: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """One scrape of ``process``'s /metrics: (sample name, labels) -> value."""
    url = f"http://127.0.0.1:{stack.metrics_ports[process]}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        body = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    """The sum of the samples named ``name`` whose labels include ``labels`` (0 when none)."""
    wanted = set(labels.items())
    return sum(v for (n, lab), v in samples.items() if n == name and wanted <= lab)


KEY_SERIES: dict[str, list[tuple[str, dict[str, str]]]] = {
    "gateway": [
        ("http_requests_total", {"route": "/graphql", "status": "200", "operation": "Signup"}),
        ("http_request_duration_seconds_count", {"route": "/graphql", "operation": "Signup"}),
    ],
    "grpc": [
        ("grpc_server_handled_total", {"grpc_method": "SignUp", "grpc_code": "OK"}),
        ("grpc_server_handling_seconds_count", {"grpc_method": "SignUp"}),
    ],
    "worker": [
        ("celery_tasks_total", {"task": WELCOME_TASK, "state": "SUCCESS"}),
        ("celery_task_duration_seconds_count", {"task": WELCOME_TASK}),
    ],
    "scheduler": [
        ("scheduler_job_runs_total", {"job": "relay-outbox", "outcome": "ok"}),
        ("scheduler_job_duration_seconds_count", {"job": "relay-outbox"}),
    ],
}


def test_each_process_serves_metrics_and_the_key_series_move(stack: Stack) -> None:
    before = {process: scrape(stack, process) for process in KEY_SERIES}
    for _ in range(2):
        signup(stack, request_id=f"obs-metrics-{uuid.uuid4().hex[:8]}")

    def moved() -> list[str]:
        still = []
        for process, series in KEY_SERIES.items():
            after = scrape(stack, process)
            for name, labels in series:
                if value(after, name, **labels) <= value(before[process], name, **labels):
                    still.append(f"{process}: {name}{labels}")
        return still

    deadline = time.monotonic() + 30
    stuck = moved()
    while stuck and time.monotonic() < deadline:
        time.sleep(0.3)  # polling interval
        stuck = moved()
    assert not stuck, f"series that did not move: {stuck}"

    # Database pools, outbox lag and gRPC series are there with bounded labels only.
    for process in ("grpc", "worker", "scheduler"):
        samples = scrape(stack, process)
        pool = f"user-service:{process}"
        assert value(samples, "db_pool_size", pool=pool) >= 1, process
        assert ("db_pool_connections", frozenset({("pool", pool), ("state", "idle")})) in samples
    scheduler = scrape(stack, "scheduler")
    lag = value(scheduler, "outbox_oldest_pending_age_seconds")
    assert 0 <= lag < 60
    gateway = scrape(stack, "gateway")
    operations = {
        dict(labels).get("operation") for (name, labels) in gateway if name == "http_requests_total"
    }
    assert "Signup" in operations
    # No user data in label values: no email, id or request id anywhere in a scrape.
    for process in KEY_SERIES:
        for _, labels in scrape(stack, process):
            for _, label_value in labels:
                assert "@" not in label_value, label_value
                assert not label_value.startswith("obs-"), label_value
