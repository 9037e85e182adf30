"""Memory soak: ``--soak`` seconds of ``user(id)`` at 8 connections with every stack process's
RSS sampled every 5 s; growth = mean of the last minute (a third of a shorter soak) against the
first (target < 10%)."""

from __future__ import annotations

import json
import statistics
import threading
import time

from harness import SINGLE, Results, Stack, Target, run_wrk, wrk_script


def _stack_rss(stack: Stack) -> dict[str, float]:
    """MiB resident per long-running process of the stack (``name pid`` -> MiB)."""
    import psutil

    rss: dict[str, float] = {}
    for child in stack.children():
        try:
            command = " ".join(child.cmdline())
            if child.name() in ("sh", "bash"):
                continue
            for name in ("grpcserver", "worker", "scheduler", "gunicorn"):
                if name in command:
                    rss[f"{name} {child.pid}"] = child.memory_info().rss / 2**20
        except psutil.Error:
            continue
    return rss


def bench_soak(stack: Stack, results: Results, seconds: int, user_id: str) -> None:
    """``seconds`` of `user(id)` at 8 connections; RSS of each process sampled every 5 s."""
    script = wrk_script(json.dumps({"query": SINGLE, "variables": {"id": user_id}}), "soak.lua")
    samples: list[tuple[float, dict[str, float]]] = []
    done = threading.Event()

    def sample() -> None:
        start = time.monotonic()
        while not done.is_set():
            samples.append((time.monotonic() - start, _stack_rss(stack)))
            done.wait(5)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        figures = run_wrk("soak", f"{stack.gateway_url}/graphql", script, 8, seconds)
    finally:
        done.set()
        sampler.join()
    window = min(60.0, seconds / 3)
    first = [rss for at, rss in samples if at <= window]
    last = [rss for at, rss in samples if at >= seconds - window]
    growth: dict[str, float] = {}
    for name in first[0] if first else {}:
        before = statistics.mean(r[name] for r in first if name in r)
        after_values = [r[name] for r in last if name in r]
        if after_values:
            growth[name] = (statistics.mean(after_values) - before) / before * 100
    worst = max(growth.values(), default=float("nan"))
    results.load["soak"] = {8: figures}
    results.targets.append(
        Target(
            f"RSS growth, {seconds} s soak at 8 conn",
            f"worst {worst:+.1f}% ({max(growth, key=growth.get) if growth else '-'})",
            f"first vs last {window:.0f} s mean, every stack process",
            "< 10%",
            bool(growth) and worst < 10 and figures["errors"] == 0,
        )
    )
    for name, value in sorted(growth.items()):
        results.info.append((f"soak RSS growth {name}", f"{value:+.1f}%"))
