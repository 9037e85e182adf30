"""Engine creation with the kit's defaults (psycopg 3, pre-ping, statement timeout)."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from alvin_python_lib.db.deadline import install_statement_deadline

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
    pre_ping_idle_s: float = 1.0,
    hide_parameters: bool = False,
    **kwargs: Any,
) -> Engine:
    """Create an Engine that checks stale connections and, for PostgreSQL, sets server timeouts.

    ``statement_timeout_ms`` caps every statement on the server, so a stuck query fails with an
    error instead of holding a worker thread; ``connect_timeout`` bounds connection attempts so a
    database outage fails fast.

    ``pool_pre_ping`` pings a pooled connection before handing it out, but only when it sat idle
    in the pool for ``pre_ping_idle_s`` or more (0: at every checkout, SQLAlchemy's own pre-ping).
    A connection returned a moment ago is almost always alive, and under load the ping was a
    quarter of a short request's round trips. A connection that dies while busy (the database
    restarted) fails its next statement instead; SQLAlchemy then invalidates the whole pool, so
    the following checkouts reconnect, and the error maps to a retryable UNAVAILABLE.

    ``hide_parameters`` keeps the statements' values out of SQLAlchemy's exception messages (and
    so out of logged tracebacks) and out of ``echo`` lines: they can be emails, password hashes or
    tokens. Turn it on in deployed environments (``settings.is_deployed``); in development the
    values help debugging. PostgreSQL's own message text can still quote a value (``DETAIL: Key
    (email)=(...) already exists``, ``invalid input syntax for type integer: "..."``).
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
    engine = sa.create_engine(
        parsed,
        pool_pre_ping=pool_pre_ping and pre_ping_idle_s <= 0,
        echo=echo,
        hide_parameters=hide_parameters,
        connect_args=connect_args,
        **pool_args,
        **kwargs,
    )
    if pool_pre_ping and pre_ping_idle_s > 0:
        _ping_when_idle(engine, pre_ping_idle_s)
    install_statement_deadline(engine)  # statement_deadline(...) blocks: see db.deadline
    return engine


_IDLE_SINCE = "alvin.idle_since"


def _ping_when_idle(engine: Engine, idle_s: float) -> None:
    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(
        dbapi_connection: Any, record: ConnectionPoolEntry, proxy: PoolProxiedConnection
    ) -> None:
        since = record.info.pop(_IDLE_SINCE, None)
        if since is None or time.monotonic() - since < idle_s:
            return  # a new connection, or one in use a moment ago
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            # The pool discards this connection and checks out (or opens) another one.
            raise exc.DisconnectionError(str(error)) from error
        if not alive:
            raise exc.DisconnectionError("the connection did not answer a ping")
