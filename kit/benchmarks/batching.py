"""Batching: ``users(first: 100)`` with ``invitedBy``: the user-service RPCs logged for that
request's ``X-Request-ID`` (target <= 2, against the naive N+1), and its median latency against
the single-user query (target <= 3x)."""

from __future__ import annotations

import uuid

from harness import BATCH, SINGLE, Results, Stack, Target, median_latency_ms, post

from kit.stack import wait_for


def _calls(stack: Stack, request_id: str) -> list[str]:
    """The gRPC methods the user-service logged for ``request_id``."""
    return [
        row["method"]
        for row in stack.json_lines_of("grpc")
        if row.get("request_id") == request_id and row.get("event") == "grpc.access"
    ]


def bench_batching(stack: Stack, results: Results) -> None:
    """RPCs and latency of 100 users with their inviters, against the single-user query."""
    url = f"{stack.gateway_url}/graphql"
    request_id = f"bench-batch-{uuid.uuid4().hex[:8]}"
    page = post(url, BATCH, request_id=request_id)
    nodes = [edge["node"] for edge in page["data"]["users"]["edges"]]
    inviters = sum(1 for node in nodes if node["invitedBy"])
    # The user-service logs each call before answering it, and its output reaches the log in
    # order: once a later request's call is in the log, every call of this one is.
    marker = f"bench-marker-{uuid.uuid4().hex[:8]}"
    post(url, SINGLE, {"id": nodes[0]["id"]}, request_id=marker)
    wait_for("the user-service's access lines", lambda: _calls(stack, marker), timeout=10)
    calls = _calls(stack, request_id)
    results.targets.append(
        Target(
            f"RPCs for {len(nodes)} users + invitedBy",
            f"{len(calls)} ({', '.join(c.rsplit('/', 1)[-1] for c in calls)}); "
            f"{inviters} with an inviter",
            f"naive N+1: {1 + inviters}",
            "<= 2",
            bool(calls) and len(calls) <= 2,
        )
    )
    user_id = results.figures.get("user_id") or nodes[0]["id"]
    single = median_latency_ms(lambda: post(url, SINGLE, {"id": user_id}))
    batch = median_latency_ms(lambda: post(url, BATCH))
    results.targets.append(
        Target(
            "100-user query latency vs single user",
            f"{batch:.1f} ms vs {single:.1f} ms = {batch / single:.1f}x (median of 21)",
            "single-user query, same run",
            "<= 3x",
            batch / single <= 3,
        )
    )
