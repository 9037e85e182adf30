"""Core library of the alvin backend kit.

Modules: ``config`` (settings), ``process`` (what every process does first: logging and tracing),
``ids`` (snowflake IDs), ``db`` (engine, sessions, models), ``migrations`` (Alembic glue),
``errors`` (domain exceptions), ``logging`` (structlog), ``telemetry`` (OpenTelemetry, Sentry),
``metrics`` (Prometheus), ``testing`` (pytest plugin, architecture check), ``cli`` (manage command
factory), ``tasks`` (Celery factory), ``scheduler`` (APScheduler with advisory locks) and
``embedded`` (PostgreSQL and Redis in a wheel for development and tests).
"""

__version__ = "0.2.1"
