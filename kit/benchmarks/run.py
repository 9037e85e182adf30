"""Whole-stack benchmarks: figures side by side with their baselines, measured in one run.

Starts the real stack (deploy/local/run_stack.py, free ports, fresh data folder, ``--seed 200``),
then measures:

1. Gateway query cost: ``{ user(id) { id displayName } }`` over HTTP with ``wrk`` at 1, 8 and 32
   connections, next to (a) direct gRPC GetUser calls on the user-service and (b) a bare Flask
   endpoint returning the same JSON under gunicorn with the gateway's worker settings.
2. Batching: 100 users with ``invitedBy``: user-service RPCs for that request id, latency ratio.
3. Cold start: ``user-service --help`` and ``gateway --help``; ``-X importtime`` of the libraries.
4. The core library's two ratios (``--core-json``, written by libs/alvin-python-lib/benchmarks).

Benchmarks are not tests: a missed target is printed, never an error (exit 0 unless the harness
itself breaks). Results: benchmarks/results/ (report.md, results.json, chart.png).
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
DEV_TOKEN = "dev-service-token"  # the services' development default (run_stack.py)
SINGLE = "query One($id: ID!) { user(id: $id) { id displayName } }"
BATCH = "{ users(first: 100) { edges { node { id displayName invitedBy { id displayName } } } } }"
LEVELS = (1, 8, 32)


@dataclass
class Target:
    """One figure with its baseline and target; ``met`` None when it could not be measured."""

    name: str
    figure: str
    baseline: str
    target: str
    met: bool | None


@dataclass
class Results:
    machine: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)
    load: dict[str, dict[int, dict[str, float]]] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    info: list[tuple[str, str]] = field(default_factory=list)  # figures without a target


# --- helpers ------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def post(
    url: str,
    query: str,
    variables: dict[str, Any] | None = None,
    request_id: str = "",
    headers: dict[str, str] | None = None,
) -> Any:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Request-ID": request_id or uuid.uuid4().hex,
        **(headers or {}),
    }
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def wait_http(url: str, timeout: float, process: subprocess.Popen[bytes] | None = None) -> float:
    """Seconds until ``url`` answers 200 (raises on timeout or if ``process`` exits)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited early ({process.returncode}) waiting for {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.monotonic() - start
        except OSError:
            pass
        time.sleep(0.05)  # polling interval
    raise RuntimeError(f"{url} not ready within {timeout}s")


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGINT, timeout: float = 30) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


# --- the stack ------------------------------------------------------------------------------------


@dataclass
class Stack:
    process: subprocess.Popen[bytes]
    gateway_url: str
    grpc_target: str
    log_path: Path
    mail_dir: Path

    def grpc_json_lines(self) -> list[dict[str, Any]]:
        rows = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line[9:].split("|", 1)[0].strip() != "grpc":
                continue
            payload = line.split("|", 1)[1].strip()
            if payload.startswith("{"):
                try:
                    rows.append(json.loads(payload))
                except ValueError:
                    continue
        return rows


@contextmanager
def running_stack(seed: int) -> Iterator[Stack]:
    data_dir = Path(tempfile.mkdtemp(prefix="alvin-bench-stack-"))
    log_path = RESULTS / "stack.log"
    gateway_port, grpc_port = _free_port(), _free_port()
    env = {
        **os.environ,
        "GATEWAY_PORT": str(gateway_port),
        "USER_SERVICE_GRPC_PORT": str(grpc_port),
        "STACK_SMTP_PORT": str(_free_port()),
        "USER_SERVICE_LOG_FORMAT": "json",
        "GATEWAY_LOG_FORMAT": "json",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    command = [sys.executable, str(ROOT / "deploy/local/run_stack.py"), "--data-dir", str(data_dir)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*command, "--seed", str(seed)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
            start_new_session=True,
        )
    stack = Stack(
        process,
        f"http://127.0.0.1:{gateway_port}",
        f"127.0.0.1:{grpc_port}",
        log_path,
        data_dir / "mail",  # run_stack.py's SMTP catcher saves every message there
    )
    try:
        wait_http(f"{stack.gateway_url}/readyz", timeout=180, process=process)
        yield stack
    finally:
        stop(process)
        shutil.rmtree(data_dir, ignore_errors=True)


# --- wrk ------------------------------------------------------------------------------------------

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        return float("nan")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str) -> dict[str, float]:
    figures: dict[str, float] = {"errors": 0.0}
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    figures["rps"] = float(rate.group(1)) if rate else float("nan")
    for pct in ("50", "99"):
        match = re.search(rf"^\s+{pct}(?:\.000)?%\s+(\S+)", output, re.MULTILINE)
        figures[f"p{pct}_ms"] = _ms(match.group(1)) if match else float("nan")
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if non2xx:
        figures["errors"] += int(non2xx.group(1))
    if sockets:
        figures["errors"] += sum(int(g) for g in sockets.groups())
    total = re.search(r"(\d+) requests in", output)
    figures["requests"] = float(total.group(1)) if total else float("nan")
    return figures


def wrk_script(body: str, name: str = "post.lua") -> Path:
    script = RESULTS / name
    lua_body = body.replace("\\", "\\\\").replace('"', '\\"')
    script.write_text(
        'wrk.method = "POST"\n'
        f'wrk.body = "{lua_body}"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    return script


def run_wrk(
    label: str, url: str, script: Path, connections: int, duration: int
) -> dict[str, float]:
    command = [
        "wrk",
        "-t1",  # one load thread: the machine is small and the servers need the cores
        f"-c{connections}",
        f"-d{duration}s",
        "--latency",
        "--timeout",
        "5s",
        "-s",
        str(script),
        url,
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    (RESULTS / f"wrk-{label}-{connections}.txt").write_text(output)
    return parse_wrk(output)


# --- gRPC baseline ----------------------------------------------------------------------------------


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


# --- bare endpoint --------------------------------------------------------------------------------


def gateway_workers() -> tuple[int, int]:
    try:
        from gateway_graphql.app.settings import get_settings

        settings = get_settings()
        return int(settings.workers), int(settings.threads)
    except Exception:  # fall back to the documented defaults
        return 2, 8


@contextmanager
def bare_server(body: str) -> Iterator[str]:
    port = _free_port()
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
    env = {**os.environ, "BARE_BODY": body}
    with (RESULTS / "bare.log").open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", timeout=30, process=process)
        yield f"http://127.0.0.1:{port}/graphql"
    finally:
        stop(process, signal.SIGTERM)


# --- the measurements -----------------------------------------------------------------------------


def _fmt(figures: dict[str, float]) -> str:
    return (
        f"{figures['rps']:,.0f} req/s, p50 {figures['p50_ms']:.1f} ms, "
        f"p99 {figures['p99_ms']:.1f} ms, {figures['errors']:.0f} errors"
    )


def _raw_id(global_id: str) -> int:
    """The snowflake inside a Relay global ID (base64 of ``User:<id>``)."""
    try:
        return int(global_id)
    except ValueError:
        return int(base64.b64decode(global_id).decode().rsplit(":", 1)[-1])


def _role(name: str, cmdline: str) -> str | None:
    if name == "wrk":
        return "wrk"
    if name.startswith("postgres"):
        return "postgres"
    if "grpcserver" in cmdline:
        return "user-service"
    if "gateway_graphql.app" in cmdline:
        return "gateway"
    if "bare_app" in cmdline:
        return "bare"
    return None


def _cpu_snapshot(stack: Stack) -> dict[int, tuple[str, float]]:
    """pid -> (role, CPU seconds so far) for this run's processes that a request goes through.

    The stack's processes, this script's children (wrk, the bare server) and the stack's own
    PostgreSQL (the postmaster started on its data folder, and its backends).
    """
    import psutil

    procs = psutil.Process(stack.process.pid).children(recursive=True)
    procs += psutil.Process().children(recursive=True)
    data_dir = str(stack.mail_dir.parent)
    for proc in psutil.process_iter(["cmdline"]):
        if any(data_dir in part for part in proc.info["cmdline"] or ()):
            procs += [proc, *proc.children(recursive=True)]
    snapshot = {}
    for proc in procs:
        try:
            role = _role(proc.name(), " ".join(proc.cmdline()))
            if role:
                times = proc.cpu_times()
                snapshot[proc.pid] = (role, times.user + times.system)
        except psutil.Error:
            continue
    return snapshot


def wrk_with_cpu(
    stack: Stack, label: str, url: str, script: Path, *, connections: int, duration: int
) -> tuple[dict[str, float], dict[str, float]]:
    """``run_wrk`` plus the CPU milliseconds each role spent per request during the run."""
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
    for pid, (role, seconds) in _cpu_snapshot(stack).items():
        spent[role] = spent.get(role, 0.0) + seconds - before.get(pid, (role, 0.0))[1]
    requests = max(figures["rps"] * duration, 1.0)
    return figures, {role: cpu / requests * 1000 for role, cpu in spent.items()}


def bench_gateway(stack: Stack, results: Results, duration: int) -> None:
    page = post(f"{stack.gateway_url}/graphql", "{ users(first: 1) { edges { node { id } } } }")
    user_id = page["data"]["users"]["edges"][0]["node"]["id"]
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
    results.targets.append(
        Target(
            "gateway throughput vs bare endpoint",
            f"{best_gateway:,.0f} req/s (best level), {ratio:.2f}x",
            f"bare Flask+gunicorn {best_bare:,.0f} req/s; direct gRPC "
            f"{max(f['rps'] for f in load['grpc'].values()):,.0f} calls/s",
            ">= 0.5x",
            ratio >= 0.5,
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


def _median_latency_ms(fn: Callable[[], object], rounds: int = 21) -> float:
    fn()  # warm up
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def bench_batching(stack: Stack, results: Results) -> None:
    url = f"{stack.gateway_url}/graphql"
    request_id = f"bench-batch-{uuid.uuid4().hex[:8]}"
    page = post(url, BATCH, request_id=request_id)
    nodes = [edge["node"] for edge in page["data"]["users"]["edges"]]
    inviters = sum(1 for node in nodes if node["invitedBy"])
    deadline = time.monotonic() + 10
    calls: list[str] = []
    while time.monotonic() < deadline:
        calls = [
            row["method"]
            for row in stack.grpc_json_lines()
            if row.get("request_id") == request_id and row.get("event") == "grpc.access"
        ]
        if calls:
            break
        time.sleep(0.1)  # the stack's output reaches the log file asynchronously
    time.sleep(0.5)
    calls = [
        row["method"]
        for row in stack.grpc_json_lines()
        if row.get("request_id") == request_id and row.get("event") == "grpc.access"
    ]
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
    single = _median_latency_ms(lambda: post(url, SINGLE, {"id": user_id}))
    batch = _median_latency_ms(lambda: post(url, BATCH))
    results.targets.append(
        Target(
            "100-user query latency vs single user",
            f"{batch:.1f} ms vs {single:.1f} ms = {batch / single:.1f}x (median of 21)",
            "single-user query, same run",
            "<= 3x",
            batch / single <= 3,
        )
    )


def _time_command(command: list[str], rounds: int = 3) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def bench_cold_start(results: Results) -> None:
    bindir = Path(sys.executable).parent
    for name in ("user-service", "gateway"):
        seconds = _time_command([str(bindir / name), "--help"])
        results.targets.append(
            Target(
                f"`{name} --help`",
                f"{seconds * 1000:.0f} ms (median of 3)",
                f"bare interpreter {_time_command([sys.executable, '-c', 'pass']) * 1000:.0f} ms",
                "< 0.5 s",
                seconds < 0.5,
            )
        )
    results.figures["importtime"] = {
        stmt: importtime(stmt)
        for stmt in (
            "import alvin_python_lib, alvin_grpc, alvin_protos",
            "import user_service.commands",
            "import gateway_graphql.commands",
        )
    }


def importtime(statement: str) -> dict[str, Any]:
    """``-X importtime`` of ``statement``: total, and the largest imports two levels deep."""
    command = [sys.executable, "-X", "importtime", "-c", statement]
    stderr = subprocess.run(command, capture_output=True, text=True, check=True).stderr
    rows = []
    for line in stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if match:
            depth = (len(match.group(3)) - 1) // 2
            rows.append((int(match.group(2)), int(match.group(1)), depth, match.group(4)))
    total = sum(r[0] for r in rows if r[2] == 0) / 1000
    top = sorted((r for r in rows if r[2] <= 1), reverse=True)[:10]
    return {
        "total_ms": total,
        "top": [
            {"module": "  " * r[2] + r[3], "cumulative_ms": r[0] / 1000, "self_ms": r[1] / 1000}
            for r in top
        ],
    }


def core_library(results: Results, path: Path | None) -> None:
    if path is None or not path.exists():
        results.notes.append("core library figures not found (run with --core-json)")
        return
    data = json.loads(path.read_text())
    ids, db = data["ids"], data["db_fixture"]
    results.targets.append(
        Target(
            "core: snowflake ids vs uuid4",
            f"{ids['snowflake_per_s']:,.0f}/s = {ids['ratio']:.1f}x",
            f"uuid.uuid4() {ids['uuid4_per_s']:,.0f}/s",
            ">= 2x",
            ids["ratio"] >= 2,
        )
    )
    results.targets.append(
        Target(
            "core: db fixture vs TRUNCATE",
            f"{db['savepoint_ms_per_test']:.3f} ms/test = {db['ratio']:.1f}x faster",
            f"TRUNCATE {db['truncate_ms_per_test']:.3f} ms/test",
            ">= 10x",
            db["ratio"] >= 10,
        )
    )


# --- cold start of the servers, argon2, signup and login ---------------------------------------


def _stack_env(stack: Stack) -> dict[str, str]:
    """The environment run_stack.py gave its processes (both services' settings in one)."""
    import psutil

    for child in psutil.Process(stack.process.pid).children(recursive=True):
        try:
            if "grpcserver" in " ".join(child.cmdline()):
                return dict(child.environ())
        except psutil.Error:
            continue
    raise RuntimeError("the stack's grpcserver process was not found")


def _grpc_serving(target: str) -> bool:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(target) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=0.5
            )
        except grpc.RpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def _start_timed(command: list[str], env: dict[str, str], ready: Callable[[], bool]) -> float:
    start = time.monotonic()
    process = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        while time.monotonic() - start < 60:
            if process.poll() is not None:
                raise RuntimeError(f"{command} exited with {process.returncode}")
            if ready():
                return time.monotonic() - start
            time.sleep(0.02)  # polling interval
        raise RuntimeError(f"{command} not ready in 60 s")
    finally:
        stop(process, signal.SIGTERM)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def bench_server_start(stack: Stack, results: Results) -> None:
    env = _stack_env(stack)
    bindir = Path(sys.executable).parent
    grpc_port, http_port = _free_port(), _free_port()
    env.update({"USER_SERVICE_GRPC_PORT": str(grpc_port), "GATEWAY_PORT": str(http_port)})
    grpc_s = _start_timed(
        [str(bindir / "user-service"), "grpcserver"],
        env,
        lambda: _grpc_serving(f"127.0.0.1:{grpc_port}"),
    )
    http_s = _start_timed(
        [str(bindir / "gateway"), "serve"],
        env,
        lambda: _http_ok(f"http://127.0.0.1:{http_port}/healthz"),
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


def bench_memory(stack: Stack, results: Results) -> None:
    """Peak resident memory (VmHWM) of each stack process, read after the load."""
    import psutil

    rows = []
    for child in psutil.Process(stack.process.pid).children(recursive=True):
        try:
            status = Path(f"/proc/{child.pid}/status").read_text()
            peak = re.search(r"VmHWM:\s+(\d+) kB", status)
            command = " ".join(child.cmdline()[1:4])[:60]
        except (OSError, psutil.Error):
            continue
        if peak and ("user-service" in command or "gunicorn" in command):
            rows.append((int(peak.group(1)) / 1024, child.pid, command))
    for mib, pid, command in sorted(rows, reverse=True):
        results.info.append((f"peak RSS pid {pid}", f"{mib:.0f} MiB  {command}"))


def bench_argon2(results: Results) -> float:
    from argon2 import PasswordHasher

    from user_service.app.settings import Settings

    fields = Settings.model_fields
    hasher = PasswordHasher(
        time_cost=fields["argon2_time_cost"].default,
        memory_cost=fields["argon2_memory_cost_kib"].default,
        parallelism=fields["argon2_parallelism"].default,
    )
    hasher.hash("warm up")
    samples = []
    for _ in range(5):
        start = time.perf_counter()
        hasher.hash("correct horse battery")
        samples.append(time.perf_counter() - start)
    seconds = statistics.median(samples)
    results.info.append(
        (
            "argon2id hash (service defaults)",
            f"{seconds * 1000:.0f} ms (t={hasher.time_cost}, m={hasher.memory_cost} KiB, "
            f"p={hasher.parallelism}); {1 / seconds:.1f}/s on one thread",
        )
    )
    return seconds


def _signup_script(prefix: str) -> Path:
    query = (
        'mutation { signup(input: {email: "EMAIL", password: "correct horse battery", '
        'displayName: "Bench"}) { user { id } errors { code } } }'
    )
    head, tail = json.dumps({"query": query}).split("EMAIL")
    script = RESULTS / "signup.lua"
    script.write_text(
        "counter = 0\n"
        "request = function()\n"
        "  counter = counter + 1\n"
        f'  local body = [[{head}]] .. "{prefix}-" .. counter .. [[@example.com{tail}]]\n'
        '  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)\n'
        "end\n"
    )
    return script


def bench_auth(stack: Stack, results: Results, duration: int) -> None:
    url = f"{stack.gateway_url}/graphql"
    hash_s = _section_value(results, "argon2", lambda: bench_argon2(results))
    signup = run_wrk("signup", url, _signup_script(uuid.uuid4().hex[:8]), 8, duration)
    email = f"login-{uuid.uuid4().hex[:8]}@example.com"
    mutation = (
        f'mutation {{ signup(input: {{email: "{email}", password: "correct horse battery", '
        'displayName: "Bench"}) { user { id } errors { code } } }'
    )
    post(url, mutation)
    login = (
        f'mutation {{ login(input: {{email: "{email}", password: "correct horse battery"}}) '
        "{ token errors { code } } }"
    )
    answer = post(url, login)
    if answer.get("errors") or not answer["data"]["login"]["token"]:
        results.notes.append(f"login check answered {answer}")
    login_body = json.dumps({"query": login}, separators=(",", ":"))
    login_figures = run_wrk("login", url, wrk_script(login_body, "login.lua"), 8, duration)
    results.load["signup"] = {8: signup}
    results.load["login"] = {8: login_figures}
    bound = (
        f"; argon2 bound on {os.cpu_count()} cores ~{os.cpu_count() / hash_s:.0f}/s"
        if hash_s
        else ""
    )
    for name, figures in (("signup", signup), ("login", login_figures)):
        results.info.append((f"{name} over GraphQL, 8 connections", _fmt(figures) + bound))


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] if ordered else float("nan")


def _delivered(mail_dir: Path) -> dict[str, float]:
    """Recipient -> the time its message was written by the SMTP catcher (epoch seconds)."""
    from email import message_from_bytes
    from email.utils import parseaddr

    seen: dict[str, float] = {}
    for path in mail_dir.glob("*.eml"):
        try:
            recipient = parseaddr(str(message_from_bytes(path.read_bytes())["To"]))[1].lower()
            seen.setdefault(recipient, path.stat().st_mtime)
        except (OSError, TypeError, ValueError):
            continue  # a message still being written: read on the next poll
    return seen


def bench_worker(stack: Stack, results: Results, count: int) -> None:
    """A burst of ``count`` signups (CreateUser, 8 in flight) until every welcome email arrived.

    Latency: the user's ``created_at`` (the signup's commit, stamped by the user-service) to the
    time the SMTP catcher wrote the message, through outbox row -> scheduler relay tick -> Redis
    -> Celery worker -> SMTP.
    """
    from concurrent.futures import ThreadPoolExecutor

    from alvin_grpc.client import create_channel
    from alvin_protos.alvin.user.v1 import user_service_pb2, user_service_pb2_grpc

    env = _stack_env(stack)
    prefix = f"burst-{uuid.uuid4().hex[:8]}"
    channel = create_channel(
        stack.grpc_target, token=env.get("USER_SERVICE_GRPC_SERVICE_TOKEN", DEV_TOKEN)
    )
    stub = user_service_pb2_grpc.UserServiceStub(channel)
    committed: dict[str, float] = {}

    def signup(n: int) -> None:
        email = f"{prefix}-{n}@example.com"
        reply = stub.CreateUser(
            user_service_pb2.CreateUserRequest(
                email=email, password="correct horse battery", display_name=f"Burst {n}"
            ),
            timeout=60,
        )
        committed[email] = reply.user.created_at.ToNanoseconds() / 1e9

    started = time.time()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(signup, range(count)))
    signups_done = time.time()
    channel.close()
    deadline = time.monotonic() + 120 + count * 0.05
    delivered: dict[str, float] = {}
    while time.monotonic() < deadline:
        delivered = {k: v for k, v in _delivered(stack.mail_dir).items() if k.startswith(prefix)}
        if len(delivered) >= count:
            break
        time.sleep(0.25)  # polling interval
    latencies = [delivered[e] - committed[e] for e in committed if e in delivered]
    if len(delivered) < count:
        results.notes.append(f"worker: only {len(delivered)} of {count} emails within the deadline")
    last = max(delivered.values(), default=signups_done)
    relay_s = float(env.get("USER_SERVICE_OUTBOX_RELAY_SECONDS", "2"))
    results.info.append(
        (
            f"signup -> welcome email, burst of {count}",
            f"p50 {_percentile(latencies, 0.5) * 1000:.0f} ms, p99 "
            f"{_percentile(latencies, 0.99) * 1000:.0f} ms (outbox relay tick {relay_s:g} s)",
        )
    )
    results.info.append(
        (
            f"burst of {count} signups (CreateUser, 8 in flight)",
            f"{count / (signups_done - started):.1f} signups/s (argon2 bound); "
            f"{len(delivered) / max(last - started, 1e-9):.1f} emails/s from the first signup "
            f"to the last email; last email {max(last - signups_done, 0):.1f} s after the last "
            "signup",
        )
    )
    results.figures["worker"] = {
        "count": count,
        "delivered": len(delivered),
        "latency_p50_s": _percentile(latencies, 0.5),
        "latency_p99_s": _percentile(latencies, 0.99),
        "signups_s": signups_done - started,
        "drain_after_last_signup_s": max(last - signups_done, 0),
    }


def _stack_rss(stack: Stack) -> dict[str, float]:
    """MiB resident per long-running process of the stack (``name pid`` -> MiB)."""
    import psutil

    rss: dict[str, float] = {}
    for child in psutil.Process(stack.process.pid).children(recursive=True):
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


def _first_user(stack: Stack) -> str:
    page = post(f"{stack.gateway_url}/graphql", "{ users(first: 1) { edges { node { id } } } }")
    return str(page["data"]["users"]["edges"][0]["node"]["id"])


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


# --- output ---------------------------------------------------------------------------------------


def _section(results: Results, name: str, fn: Callable[[], None]) -> None:
    try:
        fn()
    except Exception as exc:  # a benchmark that breaks is reported, not fatal
        traceback.print_exc()
        results.notes.append(f"{name}: not measured ({type(exc).__name__}: {exc})")
        results.targets.append(Target(name, "not measured", "-", "-", None))


def _section_value(results: Results, name: str, fn: Callable[[], float]) -> float | None:
    try:
        return fn()
    except Exception as exc:  # reported, not fatal
        traceback.print_exc()
        results.notes.append(f"{name}: not measured ({type(exc).__name__}: {exc})")
        return None


def write_report(results: Results) -> None:
    m = results.machine
    lines = [
        "# Benchmark report",
        "",
        f"- Machine: {m['cores']} cores, {m['cpu']}; Python {m['python']}; {m['platform']}",
        f"- Run: {m['date_utc']}; load generator, servers and clients share this machine.",
        f"- Settings: {json.dumps(results.settings)}",
        "",
        "## Targets",
        "",
        "| benchmark | figure | baseline | target | met |",
        "|---|---|---|---|---|",
    ]
    for t in results.targets:
        met = "n/a" if t.met is None else ("yes" if t.met else "**no**")
        lines.append(f"| {t.name} | {t.figure} | {t.baseline} | {t.target} | {met} |")
    met_count = sum(1 for t in results.targets if t.met)
    lines += ["", f"**bench: {met_count} of {len(results.targets)} targets met**", ""]
    if results.info:
        lines += ["## Figures without a target", "", "| figure | value |", "|---|---|"]
        lines += [f"| {name} | {value} |" for name, value in results.info]
        lines.append("")
    if results.load:
        lines += [
            "## Load: `{ user(id) { id displayName } }`",
            "",
            "| server | connections | req/s | p50 ms | p99 ms | errors |",
            "|---|---|---|---|---|---|",
        ]
        for server, levels in results.load.items():
            for level, f in levels.items():
                lines.append(
                    f"| {server} | {level} | {f['rps']:,.0f} | {f['p50_ms']:.2f} | "
                    f"{f['p99_ms']:.2f} | {f['errors']:.0f} |"
                )
        lines += [
            "",
            "gateway and bare: `wrk -t1 -cN`, HTTP keep-alive; grpc: GetUser from 2 Python client "
            "processes (threads inside) with `alvin_grpc.client.create_channel` and the service "
            "token, N calls in flight. The gRPC client is Python, so its own CPU cost is in the "
            "figure.",
            "",
        ]
        if (RESULTS / "chart.png").exists():
            lines += ["![throughput](chart.png)", ""]
    for statement, data in results.figures.get("importtime", {}).items():
        lines += [
            f"## `python -X importtime -c '{statement}'`",
            "",
            f"All imports: {data['total_ms']:.0f} ms; largest (cumulative, depth 0-1):",
            "",
            "| module | cumulative ms | self ms |",
            "|---|---|---|",
        ]
        for row in data["top"]:
            lines.append(f"| {row['module']} | {row['cumulative_ms']:.1f} | {row['self_ms']:.1f} |")
        lines.append("")
    if results.notes:
        lines += ["## Notes", "", *[f"- {note}" for note in results.notes], ""]
    (RESULTS / "report.md").write_text("\n".join(lines))


def write_chart(results: Results) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        results.notes.append("matplotlib not installed: no chart")
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    for server, levels in results.load.items():
        if server not in {"gateway", "bare", "grpc"}:
            continue
        ax.plot(list(levels), [f["rps"] for f in levels.values()], marker="o", label=server)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("concurrent connections / calls in flight")
    ax.set_ylabel("requests per second")
    ax.set_title(f"user(id) on {results.machine['cores']} cores")
    ax.legend()
    fig.tight_layout()
    fig.savefig(RESULTS / "chart.png", dpi=100)
    plt.close(fig)


def print_summary(results: Results) -> None:
    print()
    print(f"machine: {results.machine['cores']} cores, {results.machine['cpu']}")
    if results.load:
        print(f"{'server':<8} {'conn':>4} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}")
        for server, levels in results.load.items():
            for level, f in levels.items():
                print(
                    f"{server:<8} {level:>4} {f['rps']:>9,.0f} {f['p50_ms']:>8.2f} "
                    f"{f['p99_ms']:>8.2f} {f['errors']:>6.0f}"
                )
        print()
    print(f"{'benchmark':<40} {'figure':<52} {'target':<9} met")
    for t in results.targets:
        met = "n/a" if t.met is None else ("yes" if t.met else "NO")
        print(f"{t.name:<40} {t.figure:<52} {t.target:<9} {met}")
    for statement, data in results.figures.get("importtime", {}).items():
        top = ", ".join(
            f"{r['module'].strip()} {r['cumulative_ms']:.0f} ms" for r in data["top"][1:4]
        )
        print(f"info: importtime `{statement}`: {data['total_ms']:.0f} ms (largest: {top})")
    for name, value in results.info:
        print(f"info: {name}: {value}")
    for note in results.notes:
        print(f"note: {note}")
    print(f"report: {(RESULTS / 'report.md').relative_to(ROOT)}")
    met_count = sum(1 for t in results.targets if t.met)
    print(f"bench: {met_count} of {len(results.targets)} targets met")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per load level")
    parser.add_argument("--seed", type=int, default=200, help="demo users in the stack")
    parser.add_argument("--core-json", type=Path, help="the core library benchmark's --json file")
    parser.add_argument(
        "--signups", type=int, default=1000, help="burst size for the worker benchmark"
    )
    parser.add_argument(
        "--soak", type=int, default=180, help="seconds of the memory soak (0 skips it)"
    )
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    results = Results(machine=machine())
    results.settings = {
        "seconds_per_level": args.duration,
        "seed": args.seed,
        "levels": LEVELS,
        "signups": args.signups,
        "soak_s": args.soak,
    }
    core_library(results, args.core_json)
    _section(results, "cold start", lambda: bench_cold_start(results))
    try:
        with running_stack(args.seed) as stack:
            if shutil.which("wrk"):
                _section(
                    results, "gateway load", lambda: bench_gateway(stack, results, args.duration)
                )
            else:
                results.notes.append(
                    "wrk not installed (apt-get install -y wrk): gateway load not measured"
                )
            _section(results, "batching", lambda: bench_batching(stack, results))
            _section(results, "server start", lambda: bench_server_start(stack, results))
            if shutil.which("wrk"):
                _section(results, "signup/login", lambda: bench_auth(stack, results, args.duration))
            if args.signups:
                _section(results, "worker", lambda: bench_worker(stack, results, args.signups))
            if args.soak and shutil.which("wrk"):
                _section(
                    results,
                    "soak",
                    lambda: bench_soak(stack, results, args.soak, _first_user(stack)),
                )
            _section_value(results, "memory", lambda: bench_memory(stack, results) or 0.0)
    except Exception as exc:  # the stack did not start: say so, report the rest
        traceback.print_exc()
        results.notes.append(f"the stack did not start: {exc} (see results/stack.log)")
    if results.load:
        _section(results, "chart", lambda: write_chart(results))
    write_report(results)
    (RESULTS / "results.json").write_text(
        json.dumps(
            {**asdict(results), "targets": [asdict(t) for t in results.targets]},
            indent=2,
            default=str,
        )
    )
    print_summary(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
