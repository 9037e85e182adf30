"""Core library of the alvin backend kit.

Modules: ``config`` (settings), ``ids`` (snowflake IDs), ``db`` (engine, sessions, models),
``errors`` (domain exceptions), ``logging`` (structlog), ``testing`` (pytest plugin), ``cli`` (manage
command factory), ``tasks`` (Celery factory), ``scheduler`` (APScheduler with advisory locks) and
``embedded`` (PostgreSQL and Redis in a wheel for development and tests).
"""

__version__ = "0.1.0"
