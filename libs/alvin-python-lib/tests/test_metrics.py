"""alvin_python_lib.metrics: the /metrics endpoint and the database pool collector, over HTTP."""

from __future__ import annotations

import urllib.request

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text

from alvin_python_lib.metrics import register_db_pool_metrics, start_metrics_server


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        body = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def test_pool_usage_is_served_on_the_metrics_port(database_url: str) -> None:
    engine = create_engine(database_url, pool_size=3, max_overflow=2)
    registry = CollectorRegistry()
    register_db_pool_metrics(engine, "test-pool", registry)
    server = start_metrics_server(0, registry, addr="127.0.0.1")
    try:
        with engine.connect() as first, engine.connect() as second:
            first.execute(text("SELECT 1"))
            second.execute(text("SELECT 1"))
            busy = scrape(server.port)
        idle = scrape(server.port)
    finally:
        server.stop()
        engine.dispose()

    def value(samples: dict, state: str) -> float:  # type: ignore[type-arg]
        return samples[("db_pool_connections", (("pool", "test-pool"), ("state", state)))]

    assert value(busy, "checked_out") == 2
    assert value(idle, "checked_out") == 0
    assert value(idle, "idle") == 2  # returned to the pool
    assert value(idle, "overflow") == 0
    assert idle[("db_pool_size", (("pool", "test-pool"),))] == 3
