"""Prometheus metrics: a ``/metrics`` endpoint per process and the database pool collector.

Every process type serves its own registry on its own port (``<PREFIX>_METRICS_PORT``; unset or
empty: no endpoint). The series the kit defines (names and labels, no unbounded label values) are
listed in ``docs/operations.md``; the Celery task metrics live in :mod:`alvin_python_lib.tasks`, the
scheduler's in :mod:`alvin_python_lib.scheduler`, the gRPC server's in ``alvin_grpc.interceptors``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine

__all__ = ["DbPoolCollector", "MetricsServer", "register_db_pool_metrics", "start_metrics_server"]


@dataclass
class MetricsServer:
    """A running ``/metrics`` HTTP endpoint (see :func:`start_metrics_server`)."""

    port: int
    _server: Any
    _thread: threading.Thread

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start_metrics_server(
    port: int,
    registry: CollectorRegistry | None = None,
    *,
    addr: str = "0.0.0.0",  # noqa: S104 - scraped from outside the container
) -> MetricsServer:
    """Serve ``registry`` (default: the global one) on ``http://addr:port/metrics`` in a thread.

    ``port=0`` picks a free port (``.port`` tells which).
    """
    from prometheus_client import start_http_server  # noqa: PLC0415

    server, thread = start_http_server(
        port, addr=addr, registry=registry if registry is not None else REGISTRY
    )
    return MetricsServer(port=int(server.server_port), _server=server, _thread=thread)


class DbPoolCollector(Collector):
    """SQLAlchemy ``QueuePool`` usage, read at scrape time.

    - ``db_pool_connections{pool,state}``: ``checked_out`` (in use), ``idle`` (in the pool),
      ``overflow`` (opened beyond the pool size)
    - ``db_pool_size{pool}``: the configured pool size
    """

    def __init__(self, engine: Engine, pool: str) -> None:
        self.engine = engine
        self.pool = pool

    def collect(self) -> Iterable[GaugeMetricFamily]:
        """The two gauge families (nothing for pools without these counters)."""
        pool: Any = self.engine.pool
        if not all(hasattr(pool, name) for name in ("checkedout", "checkedin", "overflow", "size")):
            return []
        connections = GaugeMetricFamily(
            "db_pool_connections", "Database connections by state.", labels=["pool", "state"]
        )
        connections.add_metric([self.pool, "checked_out"], pool.checkedout())
        connections.add_metric([self.pool, "idle"], pool.checkedin())
        connections.add_metric([self.pool, "overflow"], max(pool.overflow(), 0))
        size = GaugeMetricFamily("db_pool_size", "Configured pool size.", labels=["pool"])
        size.add_metric([self.pool], pool.size())
        return [connections, size]


def register_db_pool_metrics(
    engine: Engine, pool: str = "default", registry: CollectorRegistry | None = None
) -> DbPoolCollector:
    """Export ``engine``'s pool usage (see :class:`DbPoolCollector`) in ``registry``."""
    collector = DbPoolCollector(engine, pool)
    (registry if registry is not None else REGISTRY).register(collector)
    return collector
