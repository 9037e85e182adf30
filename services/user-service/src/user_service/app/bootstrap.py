"""The composition root: the objects a process uses are built here, once, and handed in.

:func:`bootstrap` builds a :class:`Container` from settings and nothing else: no logging set up,
no metrics served, no module configured. Whatever is passed in (a database, the business rules'
parameters, a mailer, an id source, a clock) is used instead of the one settings describe, which
is how tests run the service on their own parts. :func:`start_process` is what each entry point
(gRPC server, worker, scheduler, the CLI commands) calls: logging and tracing for the process,
then :func:`bootstrap`, then the process's instrumentation and metrics. The entry points hand the
container's objects to the servicer (``app.server``), the Celery app (``app.worker``) and the
scheduler (``app.scheduler``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from alvin_python_lib import ids, telemetry
from alvin_python_lib.db import Database, utcnow
from alvin_python_lib.logging import configure_logging
from user_service import __version__
from user_service.app.metrics import start_process_metrics
from user_service.app.settings import Settings, get_settings
from user_service.remote.email import Mailer, SmtpConfig, SmtpMailer
from user_service.service.config import ServiceConfig, make_hasher
from user_service.service.deps import Deps, IdSource

__all__ = ["Container", "bootstrap", "start_process"]


@dataclass(frozen=True)
class Container:
    """What one process built: its settings and the objects handed to the service layer."""

    settings: Settings
    deps: Deps

    def close(self) -> None:
        """Close the database's pooled connections (at shutdown, or when a test is done)."""
        self.deps.database.dispose()


def service_config_from(settings: Settings) -> ServiceConfig:
    """The business rules' parameters from settings."""
    return ServiceConfig(
        hasher=make_hasher(
            settings.argon2_time_cost,
            settings.argon2_memory_cost_kib,
            settings.argon2_parallelism,
            max_concurrent=settings.argon2_max_concurrent,
        ),
        session_ttl=timedelta(seconds=settings.session_ttl_seconds),
        session_sliding=settings.session_sliding,
        throttle_window=timedelta(seconds=settings.throttle_window_seconds),
        throttle_max_failures_per_email=settings.throttle_max_failures_per_email,
        throttle_max_failures_per_ip=settings.throttle_max_failures_per_ip,
        email_from=settings.email_from,
    )


def smtp_config_from(settings: Settings) -> SmtpConfig:
    """Where the mailer delivers, from settings."""
    return SmtpConfig(
        host=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        starttls=settings.smtp_starttls,
        timeout=settings.smtp_timeout_seconds,
    )


def database_from(settings: Settings, process: str) -> Database:
    """The process's engine and sessions (connections open on first use)."""
    return Database(
        settings.database_url,
        statement_timeout_ms=settings.database_statement_timeout_ms,
        # Every gRPC handler thread may hold a connection: a smaller pool would open and close
        # overflow connections under load (a new PostgreSQL backend each time).
        pool_size=(
            max(settings.database_pool_size, settings.grpc_max_workers)
            if process == "grpc"
            else settings.database_pool_size
        ),
        max_overflow=settings.database_max_overflow,
        application_name=f"{settings.service_name}:{process}",
    )


class _ProcessIds:
    """The process's snowflake generator, whose worker id is leased on the service's database.

    It is the core library's process default, which the ORM's id default also uses and which a
    forked child (a Celery prefork worker) leases again on first use.
    """

    def next_id(self) -> int:
        return ids.next_id()


def _process_ids(database: Database) -> IdSource:
    if not ids.is_configured():  # the composition root is the only place that configures it
        ids.configure(engine=database.engine)
    return _ProcessIds()


def bootstrap(
    settings: Settings,
    *,
    process: str = "manage",
    database: Database | None = None,
    config: ServiceConfig | None = None,
    mailer: Mailer | None = None,
    id_source: IdSource | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> Container:
    """Build the process's objects from ``settings``; each argument given replaces its default.

    ``process`` (``grpc``, ``worker``, ``scheduler``, ``manage`` ...) names the database
    connections and sizes the pool. Without ``id_source`` a worker id is leased on the database.
    """
    database = database if database is not None else database_from(settings, process)
    deps = Deps(
        database=database,
        config=config if config is not None else service_config_from(settings),
        mailer=mailer if mailer is not None else SmtpMailer(smtp_config_from(settings)),
        ids=id_source if id_source is not None else _process_ids(database),
        clock=clock,
    )
    return Container(settings=settings, deps=deps)


def start_process(process: str, settings: Settings | None = None) -> Container:
    """Logging, tracing, the container and (for grpc, worker and scheduler) metrics of a process."""
    settings = settings or get_settings()
    configure_logging(
        level=settings.log_level,
        fmt=settings.effective_log_format,
        service=f"{settings.service_name}.{process}",
    )
    telemetry.configure_telemetry(
        settings,
        service_name=settings.service_name,
        service_version=__version__,
        environment=settings.app_env,
        process=process,
    )
    container = bootstrap(settings, process=process)
    database = container.deps.database
    telemetry.instrument_sqlalchemy(database.engine)
    telemetry.instrument_celery()
    start_process_metrics(settings, process, database)
    return container
