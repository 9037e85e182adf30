"""Server start: ``user-service grpcserver`` to health SERVING and ``gateway serve`` to
``/healthz`` 200, each started beside the running stack with its environment (target < 2 s)."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

from harness import RESULTS, Results, Stack, Target, stack_env

from kit.stack import Proc, free_port, grpc_health, http_ok, product, wait_for


def _start_timed(name: str, env: dict[str, str], ready: Callable[[], bool]) -> float:
    """Seconds from starting process ``name`` of the stack's table to ``ready``."""
    log = RESULTS / f"start-{name}.log"
    log.unlink(missing_ok=True)
    start = time.monotonic()
    proc = Proc(name, product.command(name, env), env, log).start()

    def started() -> bool:
        proc.check_alive()
        return ready()

    try:
        wait_for(f"{name} ready", started, timeout=60, interval=0.02)
        return time.monotonic() - start
    finally:
        proc.stop(signal.SIGTERM, timeout=30)


def bench_server_start(stack: Stack, results: Results) -> None:
    """Each server started beside the running stack, timed to its health check."""
    env = stack_env(stack)
    grpc_port, http_port = free_port(), free_port()
    env.update({"USER_SERVICE_GRPC_PORT": str(grpc_port), "GATEWAY_PORT": str(http_port)})
    grpc_s = _start_timed(
        "grpc", env, lambda: grpc_health(f"127.0.0.1:{grpc_port}", timeout=0.5) == "SERVING"
    )
    http_s = _start_timed(
        "gateway", env, lambda: http_ok(f"http://127.0.0.1:{http_port}/healthz", timeout=1)
    )
    for name, seconds, probe in (
        ("user-service grpcserver start", grpc_s, "health SERVING"),
        ("gateway serve start", http_s, "/healthz 200"),
    ):
        results.targets.append(
            Target(
                name,
                f"{seconds:.2f} s to {probe}",
                "process start (stack already running)",
                "< 2 s",
                seconds < 2,
            )
        )
