"""Server start: ``user-service grpcserver`` to health SERVING and ``gateway serve`` to
``/healthz`` 200, each started beside the running stack with its environment, next to a bare
baseline started the same way in the same run: a bare grpcio server with the health service
(``bare_grpc.py --echo``) and a bare Flask app on gunicorn with the gateway's worker settings
(``bare_app.py``). The targets are ratios, so that they read the same on a busy machine and on a
quiet one (each start is the median of three)."""

from __future__ import annotations

import os
import signal
import statistics
import sys
import time
from collections.abc import Callable

from gateway_load import gateway_workers
from harness import HERE, RESULTS, Results, Stack, Target, stack_env

from kit.stack import Proc, free_port, grpc_health, http_ok, product, wait_for

ROUNDS = 3
# The goal was an absolute 2 s, met on a quiet machine and missed on a busy one by the same code.
# On a quiet machine the bare servers start in 0.09 s (grpcio) and 0.13 s (gunicorn): 2 s is
# 15-22x. The kit's quiet starts read 4.0-5.3x (grpcserver: 0.45-0.57 s, nearly all of it imports
# it serves with: SQLAlchemy, psycopg, pydantic, grpc) and 2.5-3.0x (gateway). These limits keep
# the margin that a noisy machine needs and still flag about 0.1 s more on the start path.
GRPC_MAX_RATIO = 6.0
GATEWAY_MAX_RATIO = 4.0


def _timed(name: str, argv: list[str], env: dict[str, str], ready: Callable[[], bool]) -> float:
    """Seconds from starting ``argv`` to ``ready``."""
    log = RESULTS / f"start-{name}.log"
    start = time.monotonic()
    proc = Proc(name, argv, env, log).start()

    def started() -> bool:
        proc.check_alive()
        return ready()

    try:
        wait_for(f"{name} ready", started, timeout=60, interval=0.02)
        return time.monotonic() - start
    finally:
        proc.stop(signal.SIGTERM, timeout=30)


def _ready(kind: str, port: str) -> Callable[[], bool]:
    if kind == "grpc":
        return lambda: grpc_health(f"127.0.0.1:{port}", timeout=0.5) == "SERVING"
    return lambda: http_ok(f"http://127.0.0.1:{port}/healthz", timeout=1)


def _median(
    name: str, kind: str, argv: Callable[[], list[str]], env: dict[str, str], port_var: str
) -> float:
    """Median of ROUNDS starts on a free port each (``port_var`` in the env, ``{port}`` in argv)."""
    (RESULTS / f"start-{name}.log").unlink(missing_ok=True)
    times = []
    for _ in range(ROUNDS):
        port = str(free_port())
        command = [part.replace("{port}", port) for part in argv()]
        times.append(_timed(name, command, {**env, port_var: port}, _ready(kind, port)))
    return statistics.median(times)


def bench_server_start(stack: Stack, results: Results) -> None:
    """Each server and its bare baseline started beside the running stack, timed to health."""
    env = stack_env(stack)
    workers, threads = gateway_workers()
    bare_env = dict(os.environ)
    bare_gunicorn = [
        sys.executable, "-m", "gunicorn", "-k", "gthread", "-w", str(workers),
        "--threads", str(threads), "-b", "127.0.0.1:{port}", "--no-control-socket",
        "--chdir", str(HERE), "bare_app:app",
    ]  # fmt: skip
    starts = {
        "grpc": _median(
            "grpc", "grpc", lambda: product.command("grpc", env), env, "USER_SERVICE_GRPC_PORT"
        ),
        "bare-grpc": _median(
            "bare-grpc",
            "grpc",
            lambda: [sys.executable, str(HERE / "bare_grpc.py"), "--port", "{port}", "--echo"],
            bare_env,
            "PORT",
        ),
        "gateway": _median(
            "gateway", "http", lambda: product.command("gateway", env), env, "GATEWAY_PORT"
        ),
        "bare-gateway": _median("bare-gateway", "http", lambda: bare_gunicorn, bare_env, "PORT"),
    }
    results.figures["server_start_s"] = starts
    for name, mine, bare, probe, limit, baseline in (
        (
            "user-service grpcserver start",
            starts["grpc"],
            starts["bare-grpc"],
            "health SERVING",
            GRPC_MAX_RATIO,
            "bare grpcio server with the health service",
        ),
        (
            "gateway serve start",
            starts["gateway"],
            starts["bare-gateway"],
            "/healthz 200",
            GATEWAY_MAX_RATIO,
            "bare Flask app on gunicorn (same workers)",
        ),
    ):
        ratio = mine / bare
        results.targets.append(
            Target(
                name,
                f"{mine:.2f} s to {probe}, {ratio:.2f}x",
                f"{baseline}: {bare:.2f} s",
                f"<= {limit:.1f}x",
                ratio <= limit,
            )
        )
