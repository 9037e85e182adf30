"""Gateway load: ``{ user(id) { id displayName } }`` over HTTP with ``wrk`` at 1, 8 and 32
connections, next to two baselines measured in the same run: a bare Flask endpoint returning the
same JSON under gunicorn with the gateway's worker settings (bare_app.py), and GetUser straight on
the user-service over gRPC. Targets: p99 at 8 connections < 25 ms, no errors. The throughput
against the bare endpoint is a figure: on one machine it is bounded by the sum of CPU per hop, whose
targets are in per_hop.py.
"""

from __future__ import annotations

import base64
import json
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from cpu_per_request import report_cpu, wrk_with_cpu
from harness import (
    DEV_TOKEN,
    HERE,
    LEVELS,
    RESULTS,
    SINGLE,
    Results,
    Stack,
    Target,
    first_user,
    post,
    wrk_script,
)

from kit.stack import Proc, free_port, http_ok, wait_for


def _grpc_worker(target: str, user_id: int, threads: int, duration: float, queue: Any) -> None:
    from alvin_grpc.client import create_channel
    from alvin_protos.alvin.user.v1 import user_service_pb2, user_service_pb2_grpc

    channel = create_channel(target, token=os.environ.get("BENCH_TOKEN", DEV_TOKEN))
    stub = user_service_pb2_grpc.UserServiceStub(channel)
    request = user_service_pb2.GetUserRequest(id=user_id)
    stub.GetUser(request)  # warm up the channel
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + duration

    def loop() -> None:
        mine: list[float] = []
        failed = 0
        while time.monotonic() < deadline:
            start = time.perf_counter()
            try:
                stub.GetUser(request)
            except Exception:  # counted, not raised: a benchmark reports errors
                failed += 1
                continue
            mine.append((time.perf_counter() - start) * 1000)
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    workers = [threading.Thread(target=loop) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    channel.close()
    queue.put((latencies, errors[0]))


def grpc_load(target: str, user_id: int, concurrency: int, duration: int) -> dict[str, float]:
    """GetUser at ``concurrency`` in-flight calls: 2 client processes (GIL), threads in each."""
    processes = min(2, concurrency)
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    per = [concurrency // processes + (i < concurrency % processes) for i in range(processes)]
    workers = [
        context.Process(target=_grpc_worker, args=(target, user_id, n, duration, queue))
        for n in per
    ]
    for worker in workers:
        worker.start()
    latencies: list[float] = []
    errors = 0
    for _ in workers:
        got, failed = queue.get(timeout=duration + 60)
        latencies += got
        errors += failed
    for worker in workers:
        worker.join()
    latencies.sort()
    return {
        "rps": len(latencies) / duration,
        "p50_ms": latencies[len(latencies) // 2] if latencies else float("nan"),
        "p99_ms": latencies[int(len(latencies) * 0.99)] if latencies else float("nan"),
        "errors": float(errors),
        "requests": float(len(latencies)),
    }


def gateway_workers() -> tuple[int, int]:
    try:
        from gateway_graphql.app.settings import get_settings

        settings = get_settings()
        return int(settings.workers), int(settings.threads)
    except Exception:  # fall back to the documented defaults
        return 2, 8


@contextmanager
def bare_server(body: str) -> Iterator[str]:
    """bare_app.py under gunicorn with the gateway's worker settings; its /graphql URL."""
    port = free_port()
    workers, threads = gateway_workers()
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "-k",
        "gthread",
        "-w",
        str(workers),
        "--threads",
        str(threads),
        "--keep-alive",
        "5",
        "-b",
        f"127.0.0.1:{port}",
        "--chdir",
        str(HERE),
        "bare_app:app",
    ]
    log = RESULTS / "bare.log"
    log.unlink(missing_ok=True)
    bare = Proc("bare", command, {**os.environ, "BARE_BODY": body}, log).start()

    def ready() -> bool:
        bare.check_alive()
        return http_ok(f"http://127.0.0.1:{port}/healthz")

    try:
        wait_for("the bare server ready", ready, timeout=30)
        yield f"http://127.0.0.1:{port}/graphql"
    finally:
        bare.stop(signal.SIGTERM, timeout=30)


def _raw_id(global_id: str) -> int:
    """The snowflake inside a Relay global ID (base64 of ``User:<id>``)."""
    try:
        return int(global_id)
    except ValueError:
        return int(base64.b64decode(global_id).decode().rsplit(":", 1)[-1])


def bench_gateway(stack: Stack, results: Results, duration: int) -> None:
    user_id = first_user(stack)
    body = json.dumps({"query": SINGLE, "variables": {"id": user_id}}, separators=(",", ":"))
    answer = post(f"{stack.gateway_url}/graphql", SINGLE, {"id": user_id})
    if answer.get("errors"):
        results.notes.append(f"the single-user query answered errors: {answer['errors']}")
    answer_body = json.dumps(answer, separators=(",", ":"))
    script = wrk_script(body)
    load: dict[str, dict[int, dict[str, float]]] = {"gateway": {}, "bare": {}, "grpc": {}}
    results.load = load  # filled as it goes: a later failure keeps what was measured
    cpu: dict[str, dict[str, float]] = {}
    for level in LEVELS:
        load["gateway"][level], cpu_ms = wrk_with_cpu(
            stack,
            "gateway",
            f"{stack.gateway_url}/graphql",
            script,
            connections=level,
            duration=duration,
        )
        if level == 8:
            cpu["gateway"] = cpu_ms
    with bare_server(answer_body) as bare_url:
        for level in LEVELS:
            load["bare"][level], cpu_ms = wrk_with_cpu(
                stack, "bare", bare_url, script, connections=level, duration=duration
            )
            if level == 8:
                cpu["bare"] = cpu_ms
    for level in LEVELS:
        load["grpc"][level] = grpc_load(stack.grpc_target, _raw_id(user_id), level, duration)

    best_gateway = max(f["rps"] for f in load["gateway"].values())
    best_bare = max(f["rps"] for f in load["bare"].values())
    ratio = best_gateway / best_bare
    # A figure, not a target: on one machine this ratio is bounded by the bare endpoint's CPU
    # over the sum of every hop's (report_cpu prints the bound), so the targets are per hop.
    results.info.append(
        (
            "gateway throughput vs bare endpoint",
            f"{best_gateway:,.0f} req/s (best level), {ratio:.2f}x; bare Flask+gunicorn "
            f"{best_bare:,.0f} req/s; direct gRPC "
            f"{max(f['rps'] for f in load['grpc'].values()):,.0f} calls/s",
        )
    )
    p99 = load["gateway"][8]["p99_ms"]
    results.targets.append(
        Target(
            "gateway p99 at 8 connections",
            f"{p99:.1f} ms",
            f"bare {load['bare'][8]['p99_ms']:.1f} ms; gRPC {load['grpc'][8]['p99_ms']:.1f} ms",
            "< 25 ms",
            p99 < 25,
        )
    )
    errors = sum(f["errors"] for f in load["gateway"].values())
    results.targets.append(
        Target(
            "gateway errors under load",
            f"{errors:.0f} (non-2xx + socket errors, all levels)",
            f"bare {sum(f['errors'] for f in load['bare'].values()):.0f}",
            "0",
            errors == 0,
        )
    )
    results.figures["user_id"] = user_id
    report_cpu(results, cpu)
