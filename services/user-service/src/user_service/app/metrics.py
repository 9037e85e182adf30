"""Prometheus metrics of the user-service processes.

Each process serves its own ``/metrics`` on ``USER_SERVICE_METRICS_PORT`` (unset: none): the gRPC
server through ``alvin_grpc`` (``grpc_server_*``), the worker (``celery_*``) and the scheduler
(``scheduler_*`` and the outbox series below) here. Every process also exports its database pool
(``db_pool_*{pool="user-service:<process>"}``). Names and labels: ``docs/operations.md``.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from alvin_python_lib.db import Database, utcnow
from alvin_python_lib.logging import get_logger
from alvin_python_lib.metrics import MetricsServer, register_db_pool_metrics, start_metrics_server
from user_service.app.settings import Settings
from user_service.db.repository import outbox as outbox_repo

__all__ = ["OutboxLagCollector", "start_process_metrics"]

_log = get_logger(__name__)
# Processes that serve /metrics themselves (the gRPC server starts its own endpoint).
_SERVED = frozenset({"worker", "scheduler"})
_EXPORTED = frozenset({"grpc", "worker", "scheduler"})
# The Prometheus registry is process-wide: a second start in one process (tests that drive the CLI)
# must not register the same collectors again.
_registered: set[str] = set()


class OutboxLagCollector(Collector):
    """``outbox_oldest_pending_age_seconds``: age of the oldest unrelayed outbox row (0: none).

    Read from ``database`` at scrape time, so a stuck relay shows as a growing value.
    """

    def __init__(self, database: Database) -> None:
        self.database = database

    def collect(self) -> Iterable[GaugeMetricFamily]:
        """One gauge (nothing when the database cannot be read)."""
        try:
            with self.database.scope() as session:
                oldest = outbox_repo.oldest_pending_created_at(session)
        except Exception:  # a scrape must not fail because the database is away
            _log.warning("metrics.outbox_lag_failed", exc_info=True)
            return []
        age = max((utcnow() - oldest).total_seconds(), 0.0) if oldest is not None else 0.0
        return [
            GaugeMetricFamily(
                "outbox_oldest_pending_age_seconds",
                "Age of the oldest outbox message not yet relayed to the broker (0: none).",
                value=age,
            )
        ]


def start_process_metrics(
    settings: Settings, process: str, database: Database
) -> MetricsServer | None:
    """Register this process's collectors and, for the worker and scheduler, serve /metrics.

    Does nothing when ``settings.metrics_port`` is unset or for other processes (manage, shell).
    """
    if settings.metrics_port is None or process not in _EXPORTED or process in _registered:
        return None
    _registered.add(process)
    register_db_pool_metrics(database.engine, f"{settings.service_name}:{process}")
    if process == "scheduler":
        REGISTRY.register(OutboxLagCollector(database))
    if process not in _SERVED:
        return None
    server = start_metrics_server(settings.metrics_port)
    _log.info("metrics.serving", port=server.port, process=process)
    return server
