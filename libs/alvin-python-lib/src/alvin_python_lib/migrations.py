"""Alembic glue shared by every service: one ``env.py`` body, config and upgrade helpers.

A service's ``migrations/env.py`` is two lines::

    from alvin_python_lib.migrations import run_env
    from my_service.db.models import Base
    run_env(Base.metadata)

``run_env`` uses, in this order: a connection handed over in ``config.attributes["connection"]``
(the pytest plugin and :func:`upgrade` do this), the ``sqlalchemy.url`` main option, or the
``DATABASE_URL`` environment variable. Offline mode (``alembic upgrade --sql``) works too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import pool

from alvin_python_lib import ids
from alvin_python_lib.db.engine import create_engine, normalize_url

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy import MetaData
    from sqlalchemy.engine import Connection

__all__ = ["alembic_config", "create_next_id", "drop_next_id", "run_env", "upgrade"]


def alembic_config(ini_path: str | Path, *, url: str | None = None) -> Config:
    """Load ``alembic.ini`` (``script_location`` is resolved relative to the ini file)."""
    from alembic.config import Config  # noqa: PLC0415 - keep import time low for non-migration code

    path = Path(ini_path).resolve()
    config = Config(str(path))
    location = config.get_main_option("script_location") or "migrations"
    if not Path(location).is_absolute() and "%(here)s" not in location:
        config.set_main_option("script_location", str(path.parent / location))
    if url is not None:
        config.set_main_option(
            "sqlalchemy.url",
            normalize_url(url).render_as_string(hide_password=False).replace("%", "%%"),
        )
    return config


def upgrade(
    config: Config, revision: str = "head", *, connection: Connection | None = None
) -> None:
    """Run ``alembic upgrade`` programmatically, optionally on an existing connection."""
    from alembic import command  # noqa: PLC0415

    if connection is not None:
        config.attributes["connection"] = connection
    try:
        command.upgrade(config, revision)
    finally:
        config.attributes.pop("connection", None)


def run_env(target_metadata: MetaData | None, **configure_options: Any) -> None:
    """The body of a service's Alembic ``env.py``."""
    from alembic import context  # noqa: PLC0415

    config = context.config
    options: dict[str, Any] = {
        "target_metadata": target_metadata,
        "compare_type": True,
        **configure_options,
    }
    if context.is_offline_mode():
        context.configure(
            url=_url(config), literal_binds=True, dialect_opts={"paramstyle": "named"}, **options
        )
        with context.begin_transaction():
            context.run_migrations()
        return

    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()
        return

    engine = create_engine(_url(config), poolclass=pool.NullPool)
    with engine.connect() as conn:
        context.configure(connection=conn, **options)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


def _url(config: Config) -> str:
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("DATABASE_URL")
    if not url:
        raise RuntimeError("no database URL: set sqlalchemy.url in alembic.ini or DATABASE_URL")
    return url


def create_next_id(op: Any, layout: ids.SnowflakeLayout = ids.DEFAULT_LAYOUT) -> None:
    """Alembic operation: install the ``next_id()`` SQL function (use in a migration's upgrade)."""
    ids.create_next_id(op, layout)


def drop_next_id(op: Any) -> None:
    """Alembic operation: remove the ``next_id()`` SQL function (use in downgrade)."""
    ids.drop_next_id(op)
