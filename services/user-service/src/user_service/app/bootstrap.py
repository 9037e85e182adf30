"""The composition root: the objects a process uses are built here, once, and handed in.

:func:`bootstrap` builds a :class:`Container` from settings: the database, the business rules'
parameters, the mailer, the id generator (a worker id leased on the database) and the clock. It
sets up no logging, serves no metrics and configures no module. Whatever is passed in is used
instead of the part settings describe, which is how tests run the service on their own parts.
:func:`start_process` is what each entry point (gRPC server, worker, scheduler, the CLI commands)
calls: logging and tracing for the process, then :func:`bootstrap`, then the engine's
instrumentation and the process's metrics. The entry points hand the container's objects to the
servicer (``app.server``), the Celery app (``app.worker``) and the scheduler (``app.scheduler``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from alvin_python_lib import ids, process, telemetry
from alvin_python_lib.db import Database, utcnow
from user_service import __version__
from user_service.app.metrics import start_process_metrics
from user_service.app.settings import Settings, get_settings
from user_service.remote.email import Mailer, SmtpConfig, SmtpMailer
from user_service.service.config import AbuseLimits, ServiceConfig, make_hasher
from user_service.service.deps import Deps

__all__ = ["Container", "bootstrap", "start_process"]


@dataclass(frozen=True)
class Container:
    """What one process built: its settings and the objects handed to the service layer."""

    settings: Settings
    deps: Deps
    #: The id generator the root leased (None when one was handed in): closing frees its worker id.
    leased_ids: ids.LeasedGenerator | None = None

    def close(self) -> None:
        """Free the leased worker id and close the database's pooled connections (at shutdown,
        or when a test is done with a container it built)."""
        if self.leased_ids is not None:
            self.leased_ids.close()
        self.deps.database.dispose()


def service_config_from(settings: Settings) -> ServiceConfig:
    """The business rules' parameters from settings."""
    return ServiceConfig(
        hasher=make_hasher(
            settings.argon2_time_cost,
            settings.argon2_memory_cost_kib,
            settings.argon2_parallelism,
            max_concurrent=settings.argon2_max_concurrent,
            max_wait=settings.argon2_max_wait_s,
        ),
        session_ttl=timedelta(seconds=settings.session_ttl_seconds),
        session_sliding=settings.session_sliding,
        session_max_age=timedelta(seconds=settings.session_max_age_seconds),
        limits=AbuseLimits(
            login_base_delay=timedelta(seconds=settings.login_base_delay_seconds),
            login_max_delay=timedelta(seconds=settings.login_max_delay_seconds),
            login_free_failures_per_account=settings.login_free_failures_per_account,
            login_max_account_delay=timedelta(seconds=settings.login_max_account_delay_seconds),
            signup_window=timedelta(seconds=settings.signup_window_seconds),
            signup_max_per_ip=settings.signup_max_per_ip,
            signup_max_global=settings.signup_max_global,
            change_password_max_failures=settings.change_password_max_failures,
        ),
        throttle_window=timedelta(seconds=settings.throttle_window_seconds),
        throttle_max_failures_per_email=settings.throttle_max_failures_per_email,
        throttle_max_failures_per_ip=settings.throttle_max_failures_per_ip,
        email_from=settings.email_from,
        public_url=settings.public_url,
        reset_token_ttl=timedelta(seconds=settings.reset_token_ttl_seconds),
        verify_token_ttl=timedelta(seconds=settings.verify_token_ttl_seconds),
        reset_window=timedelta(seconds=settings.reset_window_seconds),
        reset_max_per_email=settings.reset_max_per_email,
        reset_max_per_ip=settings.reset_max_per_ip,
        unverified_may_log_in=settings.unverified_may_log_in,
    )


def smtp_config_from(settings: Settings) -> SmtpConfig:
    """Where the mailer delivers, from settings."""
    return SmtpConfig(
        host=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        starttls=settings.smtp_starttls_enabled,
        ca_file=settings.smtp_ca_file,
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
        # SQL errors end up in logged tracebacks: no emails or password hashes in them
        hide_parameters=settings.is_deployed,
    )


def bootstrap(
    settings: Settings,
    *,
    process: str = "manage",
    database: Database | None = None,
    config: ServiceConfig | None = None,
    mailer: Mailer | None = None,
    id_generator: ids.IdGenerator | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> Container:
    """Build the process's objects from ``settings``; each argument given replaces its default.

    ``process`` (``grpc``, ``worker``, ``scheduler``, ``manage`` ...) names the database
    connections and sizes the pool. Without ``id_generator`` a worker id is leased on the
    database for as long as the container is open (:meth:`Container.close`).
    """
    database = database if database is not None else database_from(settings, process)
    leased: ids.LeasedGenerator | None = None
    if id_generator is None:
        id_generator = leased = ids.lease_generator(database.engine)
    deps = Deps(
        database=database,
        config=config if config is not None else service_config_from(settings),
        mailer=mailer if mailer is not None else SmtpMailer(smtp_config_from(settings)),
        ids=id_generator,
        clock=clock,
    )
    return Container(settings=settings, deps=deps, leased_ids=leased)


def start_process(name: str, settings: Settings | None = None) -> Container:
    """Logging, tracing, the container and (for grpc, worker and scheduler) metrics of a process."""
    settings = settings or get_settings()
    if name == "grpc":  # before anything connects: the server would refuse them anyway
        settings.check_service_auth()
    process.start_process(settings, process=name, service_version=__version__, celery=True)
    container = bootstrap(settings, process=name)
    database = container.deps.database
    telemetry.instrument_sqlalchemy(database.engine)
    start_process_metrics(settings, name, database)
    return container
