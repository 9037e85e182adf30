"""Two scheduler replicas on one database: the outbox relay publishes each message once."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from user_service.app.celery import create_app
from user_service.app.scheduler import create_scheduler
from user_service.app.settings import Settings
from user_service.db import database
from user_service.db.models import OutboxMessage
from user_service.test.factories import make_user


def test_two_replicas_relay_each_message_once(
    db: Session, db_engine: Engine, database_url: str, redis_url: str, redis: Any
) -> None:
    settings = Settings(  # type: ignore[call-arg]
        database_url=database_url, redis_url=redis_url, outbox_relay_seconds=0.2
    )
    app = create_app(settings)
    for n in range(5):
        make_user(email=f"sched{n}@example.com")
    database.use_engine(db_engine)  # the schedulers' lock connections
    replicas = [create_scheduler(settings, background=True) for _ in range(2)]
    for replica in replicas:
        replica.start()
    try:
        # Only the schedulers use the (shared) test session while they run: poll their counters.
        deadline = time.monotonic() + 20
        while sum(r.stats["relay-outbox"].runs for r in replicas) < 3:
            if time.monotonic() > deadline:
                raise AssertionError("the relay job did not run three times in time")
            time.sleep(0.05)  # polling interval
    finally:
        for replica in replicas:
            replica.shutdown()
        app.close()
    pending = select(func.count()).select_from(OutboxMessage)
    assert db.scalar(pending.where(OutboxMessage.relayed_at.is_(None))) == 0
    runs = sorted((r.stats["relay-outbox"].runs for r in replicas), reverse=True)
    assert runs[0] >= 3
    assert runs[1] == 0  # one replica holds the job; the other only skips
    # five welcome-email tasks were published, once each
    assert redis.llen("celery") == 5
