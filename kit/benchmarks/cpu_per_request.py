"""CPU per request: the CPU each process a request goes through spent per request during a
``wrk`` run (read from /proc), and the bound it puts on the gateway's throughput ratio.

On one machine the gateway cannot exceed bare CPU / (gateway + user-service + PostgreSQL CPU)
times the bare endpoint's rate; the report prints that bound next to the measured ratio.
"""

from __future__ import annotations

import resource
from pathlib import Path

from harness import Results, Stack, run_wrk

WARMUP_S = 2
ATTEMPTS = 4
MAX_WORKER_SHARE = 0.8
# Roles served by gunicorn (a master and its workers).
GUNICORN_ROLES = frozenset({"gateway", "one-process", "bare", "bare-gateway"})

# A marker in the command line -> the role of the process (the first that matches).
_ROLES = (
    ("grpcserver", "user-service"),
    ("one_process.app", "one-process"),  # before the gateway: it runs with the gateway's config
    ("gateway_graphql.app", "gateway"),  # gunicorn started on its own
    ("gateway serve", "gateway"),  # `gateway serve`: gunicorn in the CLI's process and its forks
    ("bare_app", "bare"),
    ("bare_gateway", "bare-gateway"),  # per_hop's baselines
    ("bare_grpc", "bare-grpc"),
)


def process_role(name: str, cmdline: str) -> str | None:
    """The role of a process from its name and command line (None: not one a request uses)."""
    if name == "wrk":
        return "wrk"
    if name.startswith("postgres"):
        return "postgres"
    return next((role for marker, role in _ROLES if marker in cmdline), None)


def _cpu_snapshot(stack: Stack) -> dict[int, tuple[str, float]]:
    """pid -> (role, CPU seconds so far) for this run's processes that a request goes through.

    The stack's processes, this script's children (wrk, the bare server) and the stack's own
    PostgreSQL (the postmaster started on its data folder, and its backends).
    """
    import psutil

    procs = stack.children()
    procs += psutil.Process().children(recursive=True)
    data_dir = str(stack.data_dir)
    for proc in psutil.process_iter(["cmdline"]):
        if any(data_dir in part for part in proc.info["cmdline"] or ()):
            procs += [proc, *proc.children(recursive=True)]
    snapshot = {}
    for proc in procs:
        try:
            role = process_role(proc.name(), " ".join(proc.cmdline()))
            if role:
                times = proc.cpu_times()
                snapshot[proc.pid] = (role, times.user + times.system)
        except psutil.Error:
            continue
    return snapshot


def wrk_with_cpu(
    stack: Stack, label: str, url: str, script: Path, *, connections: int, duration: int
) -> tuple[dict[str, float], dict[str, float]]:
    """``run_wrk`` plus the CPU milliseconds each role spent per request during the run.

    wrk opens its connections once, and a gunicorn worker accepts whatever connections are
    waiting when it wakes: one worker often takes all of them, and its threads then contend for
    one GIL (the bare endpoint reads about 2,300 req/s at 0.47 ms of CPU each, against 7,000 at
    0.24 ms with the connections spread). Many clients behind a load balancer spread over the
    workers, so a run where one process of a gunicorn server did more than ``MAX_WORKER_SHARE``
    of its CPU is run again (new connections), up to ``ATTEMPTS`` times; ``worker_share`` in the
    figures is the busiest process's share. A warm-up run comes first: a server answers its
    health check once its first worker does, while the others may still be booting.
    """
    run_wrk(f"{label}-warmup", url, script, connections, WARMUP_S)
    for _attempt in range(ATTEMPTS):
        figures, cpu, share = _measured_run(
            stack, label, url, script, connections=connections, duration=duration
        )
        if share <= MAX_WORKER_SHARE:
            break
    figures["worker_share"] = share
    return figures, cpu


def _measured_run(
    stack: Stack, label: str, url: str, script: Path, *, connections: int, duration: int
) -> tuple[dict[str, float], dict[str, float], float]:
    """One wrk run: its figures, CPU ms per request by role, and the busiest worker's share."""
    before = _cpu_snapshot(stack)
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    figures = run_wrk(label, url, script, connections, duration)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk, reaped by now
    spent: dict[str, float] = {
        "wrk": children.ru_utime
        + children.ru_stime
        - children_before.ru_utime
        - children_before.ru_stime
    }
    by_process: dict[str, list[float]] = {}
    for pid, (role, seconds) in _cpu_snapshot(stack).items():
        used = seconds - before.get(pid, (role, 0.0))[1]
        spent[role] = spent.get(role, 0.0) + used
        if role in GUNICORN_ROLES:
            by_process.setdefault(role, []).append(used)
    requests = max(figures["rps"] * duration, 1.0)
    share = max(
        (max(used) / sum(used) for used in by_process.values() if len(used) > 1 and sum(used) > 0),
        default=0.0,
    )
    return figures, {role: cpu / requests * 1000 for role, cpu in spent.items()}, share


def report_cpu(results: Results, cpu: dict[str, dict[str, float]]) -> None:
    """The CPU figures of the gateway load (at 8 connections) as figures without a target."""
    results.figures["cpu_ms_per_request_at_8"] = cpu
    for name, spent in cpu.items():
        parts = ", ".join(f"{role} {ms:.2f}" for role, ms in sorted(spent.items()) if ms >= 0.005)
        results.info.append((f"CPU ms per request at 8 conn, {name}", parts))
    own = {role: ms for role, ms in cpu.get("gateway", {}).items() if role != "wrk"}
    bare_ms = cpu.get("bare", {}).get("bare")
    if own and bare_ms:
        results.info.append(
            (
                "throughput ratio bound on one machine",
                f"bare {bare_ms:.2f} ms / (gateway + user-service + postgres) "
                f"{sum(own.values()):.2f} ms = {bare_ms / sum(own.values()):.2f}x",
            )
        )
