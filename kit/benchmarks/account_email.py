"""Enumeration timing of the emailed account flows over GraphQL: ``requestPasswordReset`` for a
known against an unknown address, and ``signup`` with a taken against a new address. Each pair is
measured interleaved (one of each per round) on the running stack; the target is that the two
medians differ by no more than the noise of the same path (the spread between the two halves of
the unknown/new series), or 10%, whichever is larger."""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable

from harness import PASSWORD, Results, Stack, Target, post

REQUEST_RESET = (
    "mutation ($e: String!) { requestPasswordReset(input: {email: $e}) { ok errors { code } } }"
)
SIGNUP = (
    "mutation ($e: String!, $p: String!) { signup(input: {email: $e, password: $p, "
    'displayName: "Bench"}) { ok errors { code } } }'
)


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def _pair(
    rounds: int, first: Callable[[], object], second: Callable[[], object]
) -> tuple[list[float], list[float]]:
    first(), second()  # warm up both paths
    a, b = [], []
    for n in range(rounds):  # alternate which goes first: no order effect
        if n % 2:
            a.append(_timed(first))
            b.append(_timed(second))
        else:
            b.append(_timed(second))
            a.append(_timed(first))
    return a, b


def _target(results: Results, name: str, probe: list[float], base: list[float]) -> None:
    probe_ms, base_ms = statistics.median(probe), statistics.median(base)
    half = len(base) // 2
    noise = abs(statistics.median(base[:half]) - statistics.median(base[half:]))
    allowed = max(2 * noise, 0.10 * base_ms)
    results.figures.setdefault("enumeration", {})[name] = {
        "probe_ms": probe_ms,
        "base_ms": base_ms,
        "noise_ms": noise,
        "rounds": len(base),
    }
    results.targets.append(
        Target(
            name,
            f"{probe_ms:.1f} ms vs {base_ms:.1f} ms = {probe_ms / base_ms:.2f}x "
            f"(medians of {len(base)}, interleaved)",
            f"same-path noise {noise:.1f} ms",
            f"|diff| <= {allowed:.1f} ms",
            abs(probe_ms - base_ms) <= allowed,
        )
    )


def bench_account_email(stack: Stack, results: Results, rounds: int = 31) -> None:
    url = f"{stack.gateway_url}/graphql"
    prefix = uuid.uuid4().hex[:8]
    known = f"bench-known-{prefix}@example.com"
    answer = post(url, SIGNUP, {"e": known, "p": PASSWORD})
    if answer.get("errors") or not answer["data"]["signup"]["ok"]:
        raise RuntimeError(f"signup answered {answer}")

    counter = iter(range(1_000_000))

    def reset_known() -> None:
        post(url, REQUEST_RESET, {"e": known})

    def reset_unknown() -> None:
        post(url, REQUEST_RESET, {"e": f"bench-nobody-{prefix}-{next(counter)}@example.com"})

    known_ms, unknown_ms = _pair(rounds, reset_known, reset_unknown)
    _target(results, "requestPasswordReset: known vs unknown address", known_ms, unknown_ms)

    def signup_taken() -> None:
        post(url, SIGNUP, {"e": known, "p": PASSWORD})

    def signup_new() -> None:
        post(url, SIGNUP, {"e": f"bench-new-{prefix}-{next(counter)}@example.com", "p": PASSWORD})

    taken_ms, new_ms = _pair(max(rounds // 2, 5), signup_taken, signup_new)
    _target(results, "signup: taken vs new address", taken_ms, new_ms)
