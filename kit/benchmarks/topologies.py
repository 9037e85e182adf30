"""One process next to the split stack: CPU per ``user(id)`` request and p99, same run, same data.

The split stack (gateway -> gRPC -> user-service) is the running stack. Next to it, on the same
database, ``one-process serve`` runs the gateway with the user-service's API in the same process
(services/one-process) with the gateway's worker settings. ``wrk`` sends the same
``{ user(id) { id displayName } }`` to each at 8 connections; the CPU every process a request goes
through spent is read from /proc (cpu_per_request.py). The figure: CPU per request (all roles
but wrk) and p99, one-process against split as its baseline.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from contextlib import contextmanager

from cpu_per_request import wrk_with_cpu
from harness import (
    RESULTS,
    SINGLE,
    Results,
    Stack,
    Target,
    first_user,
    post,
    stack_env,
    wrk_script,
)

from kit.stack import Proc, free_port, http_ok, wait_for

CONNECTIONS = 8


@contextmanager
def one_process_server(stack: Stack) -> Iterator[str]:
    """``one-process serve`` on the stack's database and settings, on a free port: its base URL."""
    port = free_port()
    env = {**stack_env(stack), "GATEWAY_PORT": str(port), "GATEWAY_HOST": "127.0.0.1"}
    for name in ("GATEWAY_METRICS_PORT", "PROMETHEUS_MULTIPROC_DIR", "USER_SERVICE_METRICS_PORT"):
        env.pop(name, None)
    log = RESULTS / "one-process.log"
    log.unlink(missing_ok=True)
    server = Proc("one-process", ["one-process", "serve"], env, log).start()
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        server.check_alive()
        return http_ok(f"{base}/readyz")

    try:
        wait_for("one-process serving", ready, timeout=60)
        yield base
    finally:
        server.stop(signal.SIGTERM, timeout=30)


def _own_ms(cpu_ms: dict[str, float]) -> float:
    return sum(ms for role, ms in cpu_ms.items() if role != "wrk")


def _parts(cpu_ms: dict[str, float]) -> str:
    return ", ".join(f"{role} {ms:.2f}" for role, ms in sorted(cpu_ms.items()) if ms >= 0.005)


def bench_topologies(stack: Stack, results: Results, duration: int) -> None:
    user_id = first_user(stack)
    body = json.dumps({"query": SINGLE, "variables": {"id": user_id}}, separators=(",", ":"))
    script = wrk_script(body, "one-process.lua")
    split, split_cpu = wrk_with_cpu(
        stack, "split", f"{stack.gateway_url}/graphql", script,
        connections=CONNECTIONS, duration=duration,
    )  # fmt: skip
    with one_process_server(stack) as base:
        answer = post(f"{base}/graphql", SINGLE, {"id": user_id})
        if answer.get("errors") or not answer["data"]["user"]:
            raise AssertionError(f"one-process answered {answer}")
        one, one_cpu = wrk_with_cpu(
            stack, "one-process", f"{base}/graphql", script,
            connections=CONNECTIONS, duration=duration,
        )  # fmt: skip
    # the split stack idles while one-process is measured: only what served the requests counts
    one_cpu = {role: ms for role, ms in one_cpu.items() if role not in {"gateway", "user-service"}}
    split_ms, one_ms = _own_ms(split_cpu), _own_ms(one_cpu)
    results.figures["topologies"] = {
        "connections": CONNECTIONS,
        "split": {"wrk": split, "cpu_ms": split_cpu},
        "one_process": {"wrk": one, "cpu_ms": one_cpu},
    }
    results.info.append((f"CPU ms per user(id) at {CONNECTIONS} conn, split", _parts(split_cpu)))
    results.info.append(
        (f"CPU ms per user(id) at {CONNECTIONS} conn, one-process", _parts(one_cpu))
    )
    errors = split["errors"] + one["errors"]
    results.targets.append(
        Target(
            f"one-process vs split: CPU per user(id), p99 at {CONNECTIONS} conn",
            f"{one_ms:.2f} ms CPU, p99 {one['p99_ms']:.1f} ms, {one['rps']:,.0f} req/s",
            f"split {split_ms:.2f} ms CPU, p99 {split['p99_ms']:.1f} ms, {split['rps']:,.0f} req/s",
            "less CPU per request than split, no errors",
            one_ms < split_ms and errors == 0,
        )
    )
    if errors:
        results.notes.append(f"one-process vs split: {errors:.0f} errors under load")
    print(
        f"one-process vs split at {CONNECTIONS} conn: CPU/request {one_ms:.2f} ms vs "
        f"{split_ms:.2f} ms, p99 {one['p99_ms']:.1f} ms vs {split['p99_ms']:.1f} ms",
        flush=True,
    )
