"""Signup and login over GraphQL at 8 connections (``wrk``), next to one argon2id hash with the
service's production parameters: the hash is the cost, by design."""

from __future__ import annotations

import json
import os
import statistics
import time
import uuid
from pathlib import Path

from harness import PASSWORD, RESULTS, Results, Stack, fmt, post, run_wrk, section_value, wrk_script


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
        hasher.hash(PASSWORD)
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
        f'mutation {{ signup(input: {{email: "EMAIL", password: "{PASSWORD}", '
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
    hash_s = section_value(results, "argon2", lambda: bench_argon2(results))
    signup = run_wrk("signup", url, _signup_script(uuid.uuid4().hex[:8]), 8, duration)
    email = f"login-{uuid.uuid4().hex[:8]}@example.com"
    mutation = (
        f'mutation {{ signup(input: {{email: "{email}", password: "{PASSWORD}", '
        'displayName: "Bench"}) { user { id } errors { code } } }'
    )
    post(url, mutation)
    login = (  # as an API client: the token in the answer (tokenDelivery: BEARER), no cookie
        f'mutation {{ login(input: {{email: "{email}", password: "{PASSWORD}", '
        "tokenDelivery: BEARER}) { token errors { code } } }"
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
        results.info.append((f"{name} over GraphQL, 8 connections", fmt(figures) + bound))
