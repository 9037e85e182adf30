"""The benchmark harness: the stack every benchmark measures, the results they add to (targets
with their baselines, figures without a target, load tables), ``wrk`` and a few measuring helpers.

Each benchmark is a module of its own with one ``bench_*`` function; ``run.py`` picks and runs them
and ``report.py`` writes what they found. The stack is kit/stack's, started the way ``nox -s up``
starts it.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))  # kit.stack: the launcher every suite shares

from kit.stack import LaunchedStack as Stack  # noqa: E402
from kit.stack import started_stack, wait_for  # noqa: E402

RESULTS = HERE / "results"
DEV_TOKEN = "dev-service-token"  # the services' development default (run_stack.py)
SINGLE = "query One($id: ID!) { user(id: $id) { id displayName } }"
BATCH = "{ users(first: 100) { edges { node { id displayName invitedBy { id displayName } } } } }"
LEVELS = (1, 8, 32)
PASSWORD = "correct horse battery"  # pragma: allowlist secret - the benchmark users' password
STACK_READY_S = 180  # seeding the demo users hashes each password


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


def fmt(figures: dict[str, float]) -> str:
    return (
        f"{figures['rps']:,.0f} req/s, p50 {figures['p50_ms']:.1f} ms, "
        f"p99 {figures['p99_ms']:.1f} ms, {figures['errors']:.0f} errors"
    )


def median_latency_ms(fn: Callable[[], object], rounds: int = 21) -> float:
    fn()  # warm up
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] if ordered else float("nan")


def section(results: Results, name: str, fn: Callable[[], None]) -> None:
    try:
        fn()
    except Exception as exc:  # a benchmark that breaks is reported, not fatal
        traceback.print_exc()
        results.notes.append(f"{name}: not measured ({type(exc).__name__}: {exc})")
        results.targets.append(Target(name, "not measured", "-", "-", None))


def section_value(results: Results, name: str, fn: Callable[[], float]) -> float | None:
    try:
        return fn()
    except Exception as exc:  # reported, not fatal
        traceback.print_exc()
        results.notes.append(f"{name}: not measured ({type(exc).__name__}: {exc})")
        return None


@contextmanager
def running_stack(seed: int) -> Iterator[Stack]:
    """The stack with ``seed`` demo users on free ports, a fresh data folder and JSON logs
    (``results/stack.log``); stopped and its folder removed at the end."""
    data_dir = Path(tempfile.mkdtemp(prefix="alvin-bench-stack-"))
    env = {
        "USER_SERVICE_LOG_FORMAT": "json",
        "GATEWAY_LOG_FORMAT": "json",
        # the signup benchmark signs up thousands of users from 127.0.0.1: measure the signup,
        # not its throttles
        "USER_SERVICE_SIGNUP_MAX_PER_IP": "100000000",
        "USER_SERVICE_SIGNUP_MAX_GLOBAL": "100000000",
        # the enumeration benchmark asks for resets of one address many times from 127.0.0.1
        "USER_SERVICE_RESET_MAX_PER_EMAIL": "100000000",
        "USER_SERVICE_RESET_MAX_PER_IP": "100000000",
    }
    try:
        with started_stack(
            data_dir,
            env=env,
            seed=seed,
            log_path=RESULTS / "stack.log",
            metrics=False,
            ready_timeout=STACK_READY_S,
        ) as stack:
            yield stack
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def first_user(stack: Stack) -> str:
    """The global ID of the first user the gateway lists.

    Polled: the stack is ready when one gateway worker reaches the user-service, and another
    worker's channel may still be in its reconnect backoff for a second after that."""

    def listed() -> str:
        page = post(f"{stack.gateway_url}/graphql", "{ users(first: 1) { edges { node { id } } } }")
        return str(page["data"]["users"]["edges"][0]["node"]["id"])

    return wait_for("the gateway listing a user", listed, timeout=30)


def stack_env(stack: Stack) -> dict[str, str]:
    """The environment run_stack.py gave its processes (both services' settings in one)."""
    return stack.environ_of("grpc")
