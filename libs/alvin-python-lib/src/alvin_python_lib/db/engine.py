"""Engine creation with the kit's defaults (psycopg 3, pre-ping, statement timeout)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url

__all__ = ["create_engine", "normalize_url"]


def normalize_url(url: str | URL) -> URL:
    """Parse ``url`` and pick the psycopg 3 driver for plain ``postgres(ql)://`` URLs.

    Accepts the URLs that PostgreSQL tools print (``postgresql://user@host/db``, including the unix
    socket form ``postgresql://postgres:@/postgres?host=/tmp/dir``) and ``postgres://`` from PaaS.
    """
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def create_engine(
    url: str | URL,
    *,
    statement_timeout_ms: int | None = None,
    application_name: str | None = None,
    pool_size: int = 5,
    max_overflow: int = 10,
    pool_timeout: float = 10.0,
    pool_recycle: int = 1800,
    connect_timeout: int = 5,
    echo: bool = False,
    pool_pre_ping: bool = True,
    **kwargs: Any,
) -> Engine:
    """Create an Engine with ``pool_pre_ping`` and, for PostgreSQL, server-side timeouts.

    ``statement_timeout_ms`` caps every statement on the server, so a stuck query fails with an
    error instead of holding a worker thread; ``connect_timeout`` bounds connection attempts so a
    database outage fails fast.
    """
    parsed = normalize_url(url)
    connect_args: dict[str, Any] = dict(kwargs.pop("connect_args", {}))
    pool_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql":
        options = [str(connect_args["options"])] if connect_args.get("options") else []
        if statement_timeout_ms is not None:
            options.append(f"-c statement_timeout={int(statement_timeout_ms)}")
        if options:
            connect_args["options"] = " ".join(options)
        if application_name:
            connect_args.setdefault("application_name", application_name)
        connect_args.setdefault("connect_timeout", connect_timeout)
    if parsed.get_backend_name() == "postgresql" and "poolclass" not in kwargs:
        pool_args = {
            "pool_size": pool_size,
            "max_overflow": max_overflow,
            "pool_timeout": pool_timeout,
            "pool_recycle": pool_recycle,
        }
    return sa.create_engine(
        parsed,
        pool_pre_ping=pool_pre_ping,
        echo=echo,
        connect_args=connect_args,
        **pool_args,
        **kwargs,
    )
