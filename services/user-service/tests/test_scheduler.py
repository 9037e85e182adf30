"""Two scheduler replicas on one database: the outbox relay publishes each message once.

The replicas run jobs in their own threads, so this test does not use the shared ``db`` session:
it migrates a database of its own and builds each replica's objects with the composition root,
as two scheduler processes would.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from alembic import command
from sqlalchemy import func, select
from support import DEFAULT_PASSWORD, TEST_CONFIG

from alvin_python_lib import ids
from alvin_python_lib.migrations import alembic_config
from alvin_python_lib.testing import real_databases
from user_service.app.bootstrap import bootstrap
from user_service.app.scheduler import create_scheduler
from user_service.app.settings import Settings
from user_service.app.worker import create_worker_app
from user_service.commands import MIGRATIONS_INI
from user_service.db.models import OutboxMessage
from user_service.service import users


def test_two_replicas_relay_each_message_once(
    empty_database_url: str, redis_url: str, redis: Any, id_generator: ids.SnowflakeGenerator
) -> None:
    command.upgrade(alembic_config(Path(MIGRATIONS_INI), url=empty_database_url), "head")
    settings = Settings(  # type: ignore[call-arg]
        database_url=empty_database_url, redis_url=redis_url, outbox_relay_seconds=0.2
    )
    with real_databases():
        first, second = (
            bootstrap(settings, process="scheduler", config=TEST_CONFIG, id_generator=id_generator)
            for _ in range(2)
        )
        app = create_worker_app(first)
        for n in range(5):
            users.signup(
                first.deps,
                email=f"sched{n}@example.com",
                password=DEFAULT_PASSWORD,
                display_name=f"Sched {n}",
            )
        first.deps.database.remove()
        replicas = [create_scheduler(c, background=True) for c in (first, second)]
        for replica in replicas:
            replica.start()
        try:
            deadline = time.monotonic() + 20
            while sum(r.stats["relay-outbox"].runs for r in replicas) < 3:
                assert time.monotonic() < deadline, "the relay job did not run three times"
                time.sleep(0.05)  # polling interval
        finally:
            for replica in replicas:
                replica.shutdown()
            app.close()
        with first.deps.database.scope() as session:
            pending = session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.relayed_at.is_(None))
            )
        first.close()
        second.close()
    assert pending == 0
    runs = sorted((r.stats["relay-outbox"].runs for r in replicas), reverse=True)
    assert runs[0] >= 3
    assert runs[1] == 0  # one replica holds the job; the other only skips
    # five welcome-email and five verification-email tasks, published once each
    assert redis.llen("celery") == 10
