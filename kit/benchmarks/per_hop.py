"""Per hop: the CPU each process spends per ``user(id)`` request, next to bare baselines run in
the same run at the same load (8 connections, ``wrk``):

- the stack: gateway -> user-service -> PostgreSQL;
- bare gateway (``bare_gateway.py``: Flask + gunicorn with the gateway's worker settings, the same
  GetUser call) -> bare echo server (``bare_grpc.py --echo``): the gateway's bare baseline;
- bare gateway -> bare servicer (``bare_grpc.py --database-url``: grpcio + psycopg running the
  repository's SELECT): the user-service's bare baseline (and a bare stack);
- the bare endpoint (``bare_app.py``, a fixed answer): the yardstick of the whole stack's ratio.

Three rounds of the four runs, the median of each figure.

Targets: gateway <= 2.5x its baseline; user-service <= 2x its baseline; the whole stack's CPU per
request (gateway + user-service + PostgreSQL) <= 5.45x the bare endpoint's (half of 2.18 ms /
0.20 ms, the figures of the run that set the goal: a ratio, so that it holds on a busy or a quiet
machine alike); read RPCs in <= 2 database round trips (``round_trips_probe.py``). A profile of
each hop (py-spy flame graphs, when py-spy can attach) is saved next to the report.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cpu_per_request import process_role, wrk_with_cpu
from gateway_load import _raw_id, bare_server, gateway_workers
from harness import (
    HERE,
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

from kit.stack import Proc, free_port, grpc_health, http_ok, wait_for

CONNECTIONS = 8
ROUNDS = 3
GATEWAY_MAX = 2.5
USER_SERVICE_MAX = 2.0
# 2.18 ms (gateway + user-service + PostgreSQL) against 0.20 ms for the bare endpoint: 10.9x.
WHOLE_STACK_MAX = 2.18 / 0.20 / 2
ROUND_TRIPS_MAX = 2
HOPS = ("gateway", "user-service", "postgres")


@contextmanager
def bare_grpc(*args: str, workers: int) -> Iterator[str]:
    """``bare_grpc.py`` with ``args``; its target once health answers SERVING."""
    port = free_port()
    command = [sys.executable, str(HERE / "bare_grpc.py"), "--port", str(port)]
    command += ["--workers", str(workers), *args]
    label = "bare-grpc-echo" if "--echo" in args else "bare-grpc-db"
    proc = Proc(label, command, dict(os.environ), RESULTS / f"{label}.log").start()
    target = f"127.0.0.1:{port}"

    def ready() -> bool:
        proc.check_alive()
        return grpc_health(target, timeout=0.5) == "SERVING"

    try:
        wait_for(f"{label} ready", ready, timeout=30, interval=0.02)
        yield target
    finally:
        proc.stop(signal.SIGTERM, timeout=10)


def gunicorn_command(module: str, port: int) -> list[str]:
    """gunicorn with the gateway's worker settings serving ``module:app`` from this folder."""
    workers, threads = gateway_workers()
    return [
        sys.executable, "-m", "gunicorn", "-k", "gthread", "-w", str(workers),
        "--threads", str(threads), "--keep-alive", "5", "-b", f"127.0.0.1:{port}", "--no-control-socket",
        "--chdir", str(HERE), f"{module}:app",
    ]  # fmt: skip


@contextmanager
def bare_gateway(grpc_target: str, label: str) -> Iterator[str]:
    """``bare_gateway.py`` under gunicorn calling ``grpc_target``; its /graphql URL."""
    port = free_port()
    env = {**os.environ, "BARE_GRPC_TARGET": grpc_target}
    proc = Proc(label, gunicorn_command("bare_gateway", port), env, RESULTS / f"{label}.log")
    proc.start()

    def ready() -> bool:
        proc.check_alive()
        return http_ok(f"http://127.0.0.1:{port}/healthz")

    try:
        wait_for(f"{label} ready", ready, timeout=30, interval=0.02)
        yield f"http://127.0.0.1:{port}/graphql"
    finally:
        proc.stop(signal.SIGTERM, timeout=10)


def read_round_trips(stack: Stack, user_id: int) -> dict[str, Any]:
    env = {**stack_env(stack), "USER_SERVICE_GRPC_PORT": str(free_port())}
    env["USER_SERVICE_LOG_LEVEL"] = "WARNING"
    out = subprocess.run(
        [sys.executable, str(HERE / "round_trips_probe.py"), str(user_id)],
        env=env, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    found: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return found


def _profile_targets(stack: Stack) -> dict[str, int]:
    """hop -> the pid to attach to (the gateway's gunicorn master: its workers are followed)."""
    pids: dict[str, int] = {}
    for proc in stack.children():
        try:
            cmdline = " ".join(proc.cmdline())
            parent = proc.parent()
            parent_cmd = " ".join(parent.cmdline()) if parent else ""
        except Exception:  # gone meanwhile
            continue
        role, parent_role = process_role(proc.name(), cmdline), process_role("", parent_cmd)
        if role in ("gateway", "user-service") and parent_role != role:
            pids.setdefault(role, proc.pid)
    return pids


def profile_hops(stack: Stack, url: str, script: Path, duration: int) -> list[str]:
    """py-spy flame graphs of each hop under the same load; the files written (or why none).

    ``--gil``: only the threads holding the GIL, i.e. the Python code running, not the threads
    waiting on a socket; the CPU per request is made of those. A separate load run: the sampler's
    own CPU would otherwise count against the machine during the measured runs."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        return ["py-spy not installed: no profiles"]
    recorders = []
    for hop, pid in _profile_targets(stack).items():
        out = RESULTS / f"profile-{hop}.svg"
        out.unlink(missing_ok=True)
        command = [spy, "record", "--nonblocking", "--subprocesses", "--gil", "--rate", "100",
                   "--duration", str(duration), "-o", str(out), "--pid", str(pid)]  # fmt: skip
        log = (RESULTS / f"profile-{hop}.log").open("w")
        recorders.append((hop, out, subprocess.Popen(command, stdout=log, stderr=log), log))
    wrk_with_cpu(stack, "profile", url, script, connections=CONNECTIONS, duration=duration)
    written = []
    for hop, out, recorder, log in recorders:
        try:
            recorder.wait(timeout=duration + 60)
        except subprocess.TimeoutExpired:
            recorder.kill()
        log.close()
        written.append(
            f"{hop}: {out.name}" if out.exists() else f"{hop}: none (see profile-{hop}.log)"
        )
    return written


Figures = dict[str, float]


def _median_of(rounds: list[dict[str, Figures]]) -> dict[str, Figures]:
    """Each run's figures: the median over the rounds (a figure missing from a round counts 0)."""
    return {
        run: {
            key: statistics.median(r[run].get(key, 0.0) for r in rounds)
            for key in {k for r in rounds for k in r[run]}
        }
        for run in rounds[0]
    }


def _ms(cpu: dict[str, float], role: str) -> float:
    return cpu.get(role, 0.0)


def bench_per_hop(stack: Stack, results: Results, duration: int) -> None:
    user_id = first_user(stack)
    body = json.dumps({"query": SINGLE, "variables": {"id": user_id}}, separators=(",", ":"))
    answer = post(f"{stack.gateway_url}/graphql", SINGLE, {"id": user_id})
    script = wrk_script(body, "per-hop.lua")
    env = stack_env(stack)
    workers = int(env.get("USER_SERVICE_GRPC_MAX_WORKERS", "10"))
    url = f"{stack.gateway_url}/graphql"
    database_url = env["USER_SERVICE_DATABASE_URL"]
    answer_body = json.dumps(answer, separators=(",", ":"))

    def one_round(n: int) -> tuple[dict[str, Figures], dict[str, Figures]]:
        runs: dict[str, Figures] = {}
        load: dict[str, Figures] = {}

        def measure(name: str, label: str, target: str) -> None:
            load[name], runs[name] = wrk_with_cpu(
                stack, f"{label}-r{n}", target, script, connections=CONNECTIONS, duration=duration
            )

        measure("stack", "hop-stack", url)
        with bare_server(answer_body) as bare_url:
            measure("bare endpoint", "hop-bare", bare_url)
        with bare_grpc("--echo", workers=workers) as echo, bare_gateway(echo, "bare-gw") as bg:
            measure("bare gateway + echo", "hop-bare-echo", bg)
        with (
            bare_grpc("--database-url", database_url, workers=workers) as servicer,
            bare_gateway(servicer, "bare-gw-db") as bg,
        ):
            measure("bare stack", "hop-bare-db", bg)
        return runs, load

    # Rounds, each run of a round right after the others, and the median of each figure: the
    # machine's other work comes and goes, and a median keeps one unlucky run out.
    rounds = [one_round(n) for n in range(ROUNDS)]
    runs, load = _median_of([r[0] for r in rounds]), _median_of([r[1] for r in rounds])
    stack_cpu = runs["stack"]
    gateway, user_service = _ms(stack_cpu, "gateway"), _ms(stack_cpu, "user-service")
    whole = sum(_ms(stack_cpu, hop) for hop in HOPS)
    bare_gw = _ms(runs["bare gateway + echo"], "bare-gateway")
    bare_us = _ms(runs["bare stack"], "bare-grpc")
    bare_endpoint = _ms(runs["bare endpoint"], "bare")
    bare_whole = sum(
        _ms(runs["bare stack"], role) for role in ("bare-gateway", "bare-grpc", "postgres")
    )
    table = {
        "stack": {hop: _ms(stack_cpu, hop) for hop in HOPS},
        "bare": {
            "gateway": bare_gw,
            "user-service": bare_us,
            "postgres": _ms(runs["bare stack"], "postgres"),
        },
        "bare endpoint": bare_endpoint,
        "bare stack (bare gateway + bare servicer + postgres)": bare_whole,
        "runs": runs,
        "load": load,
    }
    results.figures["per_hop"] = table

    def ratio(a: float, b: float) -> float:
        # A process that was not found reads 0 ms: never a met target.
        return a / b if a > 0 and b > 0 else float("inf")

    results.targets += [
        Target(
            "gateway CPU per user(id) vs bare gateway",
            f"{gateway:.2f} ms, {ratio(gateway, bare_gw):.2f}x",
            f"bare Flask+gunicorn + the same GetUser to an echo server: {bare_gw:.2f} ms",
            f"<= {GATEWAY_MAX}x",
            ratio(gateway, bare_gw) <= GATEWAY_MAX,
        ),
        Target(
            "user-service CPU per GetUser vs bare servicer",
            f"{user_service:.2f} ms, {ratio(user_service, bare_us):.2f}x",
            f"bare grpcio + psycopg, the same SELECT: {bare_us:.2f} ms",
            f"<= {USER_SERVICE_MAX}x",
            ratio(user_service, bare_us) <= USER_SERVICE_MAX,
        ),
        Target(
            "whole stack CPU per user(id) vs bare endpoint",
            f"{whole:.2f} ms, {ratio(whole, bare_endpoint):.2f}x",
            f"bare endpoint {bare_endpoint:.2f} ms; bare stack {bare_whole:.2f} ms "
            f"({ratio(whole, bare_whole):.2f}x)",
            f"<= {WHOLE_STACK_MAX:.2f}x",
            ratio(whole, bare_endpoint) <= WHOLE_STACK_MAX,
        ),
    ]
    results.info.append(
        (
            f"per-hop runs at {CONNECTIONS} conn (req/s, p99 ms, busiest gunicorn process's CPU share)",
            "; ".join(
                f"{k} {v['rps']:,.0f}, {v['p99_ms']:.1f}, {v.get('worker_share', 0.0):.0%}"
                for k, v in load.items()
            ),
        )
    )
    try:
        probe = read_round_trips(stack, _raw_id(user_id))
        trips = probe["round_trips"]
        worst = max(v["max"] for v in trips.values())
        results.figures["read_round_trips"] = trips
        results.figures["read_path_cpu_us"] = ab = probe["read_path"]
        results.info.append(
            (
                "CPU us per user read, service + PostgreSQL (round_trips_probe.py)",
                "; ".join(
                    f"{k} {v['service_us']:.0f} + {v['postgres_us']:.0f}" for k, v in ab.items()
                ),
            )
        )
        results.targets.append(
            Target(
                "read RPC database round trips",
                ", ".join(f"{k} {v['max']} (mean {v['per_call']:.2f})" for k, v in trips.items()),
                "most per call, wire count (libpq trace); was 4: BEGIN, SET LOCAL, SELECT, ROLLBACK",
                f"<= {ROUND_TRIPS_MAX}",
                worst <= ROUND_TRIPS_MAX,
            )
        )
    except Exception as exc:  # reported, not fatal
        results.notes.append(f"read round trips: not measured ({type(exc).__name__}: {exc})")
        results.targets.append(
            Target("read RPC database round trips", "not measured", "-", "-", None)
        )
    profiles = profile_hops(stack, url, script, min(duration, 10))
    results.info.append(("py-spy profiles (results/)", "; ".join(profiles)))
