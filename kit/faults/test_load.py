"""Load: concurrent clients of mixed traffic against the whole stack, with figures.

15 s by default (CI); `nox -s faults -- --load-seconds 60` (or FAULTS_LOAD_SECONDS=60) gives the
full minute. Zero unexpected errors; p50/p99 latency, throughput, RSS growth per process and the
most database connections each process held (pg_stat_activity, sampled) are reported.
"""

from __future__ import annotations

import random
import statistics
import threading
import time
import uuid
from collections import Counter, defaultdict

import pytest
from faultkit import ME, UPDATE_ME, USERS, Answer, Client, Stack

MIB = 1024 * 1024
# operation -> weight
MIX = {"users": 40, "me": 20, "updateMe": 15, "login": 10, "signup": 15}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
    return ordered[index]


@pytest.mark.timeout(400)
def test_mixed_load(
    stack: Stack, load_seconds: float, load_clients: int, figures: dict[str, object]
) -> None:
    stack.start_postgres()
    stack.start_redis()
    stack.smtp()
    grpc = stack.grpc()
    worker = stack.worker()
    scheduler = stack.scheduler()
    gateway = stack.gateway(stack.grpc_target(grpc), GATEWAY_WORKERS="2")
    processes = {"grpc": grpc, "gateway": gateway, "worker": worker, "scheduler": scheduler}

    clients = []
    for n in range(load_clients):
        client = Client(stack.url(gateway))
        address = f"load{n}-{uuid.uuid4().hex[:8]}@example.com"
        assert client.signup(address, display_name=f"Load {n}").ok
        assert client.login(address).ok
        clients.append((client, address))

    connections: dict[str, int] = defaultdict(int)
    stop = threading.Event()

    def sample_connections() -> None:
        while not stop.wait(0.5):  # sampling period
            rows = stack.sql(
                "SELECT coalesce(nullif(application_name, ''), backend_type), count(*)"
                " FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() GROUP BY 1"
            )
            for name, count in rows:
                connections[name] = max(connections[name], int(count))

    results: list[tuple[str, Answer]] = []
    lock = threading.Lock()

    def run_client(n: int, until: float) -> None:
        client, address = clients[n]
        rng = random.Random(n)
        ops, weights = list(MIX), list(MIX.values())
        while time.monotonic() < until:
            op = rng.choices(ops, weights)[0]
            if op == "users":
                answer = client.run(USERS, {"first": 20})
            elif op == "me":
                answer = client.run(ME)
            elif op == "updateMe":
                answer = client.run(
                    UPDATE_ME, {"input": {"displayName": f"Load {n} {rng.random()}"}}
                )
            elif op == "login":
                answer = client.login(address)
            else:
                answer = client.signup(f"load-{uuid.uuid4().hex[:12]}@example.com")
            with lock:
                results.append((op, answer))

    # warm-up (imports, connection pools), then memory before
    for client, _ in clients[:4]:
        assert client.run(USERS, {"first": 20}).ok
    rss_before = {name: proc.rss() for name, proc in processes.items()}
    sampler = threading.Thread(target=sample_connections, daemon=True)
    sampler.start()
    started = time.monotonic()
    until = started + load_seconds
    threads = [
        threading.Thread(target=run_client, args=(n, until), daemon=True)
        for n in range(load_clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=load_seconds + 60)
    elapsed = time.monotonic() - started
    stop.set()
    sampler.join(timeout=10)
    rss_after = {name: proc.rss() for name, proc in processes.items()}

    assert all(not thread.is_alive() for thread in threads)
    assert all(proc.alive for proc in processes.values())
    errors = [(op, a.status, a.codes, a.text[:200]) for op, a in results if not a.ok]
    assert errors == [], errors[:5]
    assert not any(a.data("me") is None for op, a in results if op == "me")  # sessions held
    signups = sum(1 for op, _ in results if op == "signup")
    latencies = [a.seconds for _, a in results]
    by_op: dict[str, list[float]] = defaultdict(list)
    for op, answer in results:
        by_op[op].append(answer.seconds)
    # connection pools never exhausted: no process reached pool_size + max_overflow
    env = grpc.env
    pool_limit = int(env.get("USER_SERVICE_DATABASE_POOL_SIZE", 5)) + int(
        env.get("USER_SERVICE_DATABASE_MAX_OVERFLOW", 10)
    )
    busiest = max(count for name, count in connections.items() if name.startswith("user-service"))
    assert busiest < pool_limit, dict(connections)
    growth = {name: round((rss_after[name] - rss_before[name]) / MIB, 1) for name in processes}
    figures.update(
        seconds=round(elapsed, 1),
        clients=load_clients,
        requests=len(results),
        rps=round(len(results) / elapsed, 1),
        errors=len(errors),
        p50_ms=round(statistics.median(latencies) * 1000, 1),
        p99_ms=round(_percentile(latencies, 99) * 1000, 1),
        p99_ms_by_op={op: round(_percentile(v, 99) * 1000, 1) for op, v in sorted(by_op.items())},
        mix=dict(Counter(op for op, _ in results)),
        rss_mib_after={name: round(rss_after[name] / MIB, 1) for name in processes},
        rss_growth_mib=growth,
        max_db_connections=dict(connections),
        pool_limit_per_process=pool_limit,
        signups=signups,
        welcome_emails_by_end=len(stack.mail_recipients()),
    )
