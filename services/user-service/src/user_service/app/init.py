"""Process initialisation shared by every entry point (server, worker, scheduler, manage)."""

from __future__ import annotations

from datetime import timedelta

from alvin_python_lib import ids, telemetry
from alvin_python_lib.logging import configure_logging
from user_service import __version__
from user_service.app.metrics import start_process_metrics
from user_service.app.settings import Settings, get_settings
from user_service.db import database
from user_service.remote import email as remote_email
from user_service.service import config as service_config


def service_config_from(settings: Settings) -> service_config.ServiceConfig:
    """The business rules' parameters from settings."""
    return service_config.ServiceConfig(
        hasher=service_config.make_hasher(
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


def init_app(process: str, settings: Settings | None = None, *, lease_ids: bool = True) -> Settings:
    """Configure logging, tracing, the database, snowflake ids, business rules, email and (for the
    grpc, worker and scheduler processes) metrics for a process."""
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
    database.configure(
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
    telemetry.instrument_sqlalchemy(database.engine)
    telemetry.instrument_celery()
    start_process_metrics(settings, process)
    if lease_ids and not ids.is_configured():
        ids.configure(engine=database.engine)
    service_config.configure(service_config_from(settings))
    remote_email.configure(
        remote_email.SmtpConfig(
            host=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            starttls=settings.smtp_starttls,
            timeout=settings.smtp_timeout_seconds,
        )
    )
    return settings
