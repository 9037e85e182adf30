"""Whole-stack benchmarks: figures side by side with their baselines, measured in one run.

Picks the benchmarks (every one by default, ``--only`` names some), starts the real stack once
(kit/stack, as ``nox -s up`` runs it, ``--seed`` demo users) for those that need it, runs each in
turn and writes the report (results/report.md, results.json, chart.png). The benchmarks, one
module each: cold_start, gateway_load (with cpu_per_request), batching, server_start, auth
(signup/login), worker_burst, soak, memory; core_library reads the core library's own figures.

Benchmarks are not tests: a missed target is printed, never an error (exit 0 unless the harness
itself breaks).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import account_email
import auth
import batching
import cold_start
import core_library
import gateway_load
import memory
import per_hop
import report
import server_start
import soak
import topologies
import worker_burst
from harness import (
    LEVELS,
    RESULTS,
    Results,
    Stack,
    first_user,
    machine,
    running_stack,
    section,
    section_value,
)

Args = argparse.Namespace


@dataclass(frozen=True)
class Benchmark:
    """One benchmark: its name in the report, how to run it and what it needs."""

    key: str  # for --only
    name: str
    run: Callable[[Stack, Results, Args], object]
    wanted: Callable[[Args], bool] = lambda args: True
    needs_wrk: bool = False
    counted: bool = True  # a failure counts as a target not met


# In the order they run, on one stack: the load first, the memory figures last.
ON_STACK = (
    Benchmark(
        "gateway",
        "gateway load",
        lambda stack, results, args: gateway_load.bench_gateway(stack, results, args.duration),
        needs_wrk=True,
    ),
    Benchmark(
        "per-hop",
        "per hop",
        lambda stack, results, args: per_hop.bench_per_hop(stack, results, args.duration),
        needs_wrk=True,
    ),
    Benchmark(
        "one-process",
        "one-process vs split",
        lambda stack, results, args: topologies.bench_topologies(stack, results, args.duration),
        needs_wrk=True,
    ),
    Benchmark(
        "batching", "batching", lambda stack, results, _: batching.bench_batching(stack, results)
    ),
    Benchmark(
        "server-start",
        "server start",
        lambda stack, results, _: server_start.bench_server_start(stack, results),
    ),
    Benchmark(
        "auth",
        "signup/login",
        lambda stack, results, args: auth.bench_auth(stack, results, args.duration),
        needs_wrk=True,
    ),
    Benchmark(
        "account-email",
        "reset/signup enumeration timing",
        lambda stack, results, _: account_email.bench_account_email(stack, results),
    ),
    Benchmark(
        "worker",
        "worker",
        lambda stack, results, args: worker_burst.bench_worker(stack, results, args.signups),
        wanted=lambda args: bool(args.signups),
    ),
    Benchmark(
        "soak",
        "soak",
        lambda stack, results, args: soak.bench_soak(stack, results, args.soak, first_user(stack)),
        wanted=lambda args: bool(args.soak),
        needs_wrk=True,
    ),
    Benchmark(
        "memory",
        "memory",
        lambda stack, results, _: memory.bench_memory(stack, results),
        counted=False,
    ),
)
KEYS = ("core", "cold-start", *(b.key for b in ON_STACK))


def run_on_stack(stack: Stack, results: Results, args: Args, picked: set[str]) -> None:
    """The benchmarks that measure the running stack."""
    have_wrk = shutil.which("wrk") is not None
    for bench in ON_STACK:
        if bench.key not in picked or not bench.wanted(args):
            continue
        if bench.needs_wrk and not have_wrk:
            if bench.key == "gateway":
                results.notes.append(
                    "wrk not installed (apt-get install -y wrk): gateway load not measured"
                )
            continue
        if bench.counted:
            section(results, bench.name, lambda b=bench: b.run(stack, results, args))  # type: ignore[misc]
        else:
            section_value(results, bench.name, lambda b=bench: b.run(stack, results, args) or 0.0)  # type: ignore[misc]


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
    parser.add_argument(
        "--only",
        action="append",
        choices=KEYS,
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(KEYS)}",
    )
    args = parser.parse_args()
    picked = set(args.only or KEYS)
    RESULTS.mkdir(parents=True, exist_ok=True)
    results = Results(machine=machine())
    results.settings = {
        "seconds_per_level": args.duration,
        "seed": args.seed,
        "levels": LEVELS,
        "signups": args.signups,
        "soak_s": args.soak,
    }
    if "core" in picked:
        core_library.core_library(results, args.core_json)
    if "cold-start" in picked:
        section(results, "cold start", lambda: cold_start.bench_cold_start(results))
    if picked & {b.key for b in ON_STACK}:
        try:
            with running_stack(args.seed) as stack:
                run_on_stack(stack, results, args, picked)
        except Exception as exc:  # the stack did not start: say so, report the rest
            traceback.print_exc()
            results.notes.append(f"the stack did not start: {exc} (see results/stack.log)")
    if results.load:
        section(results, "chart", lambda: report.write_chart(results))
    if "per_hop" in results.figures:
        section(results, "per-hop chart", lambda: report.write_per_hop_chart(results))
    report.write_report(results)
    report.write_json(results)
    report.print_summary(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
