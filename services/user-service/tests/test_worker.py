"""Signup -> outbox -> relay -> Celery worker on a real Redis broker -> real SMTP server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from support import MakeUser

from user_service.app.bootstrap import Container
from user_service.app.worker import create_worker_app
from user_service.commands.smtp_catcher import SmtpCatcher
from user_service.db.models import OutboxMessage, SentEmail
from user_service.remote.email import Mailer
from user_service.service.deps import Deps
from user_service.service.users import WELCOME_EMAIL_TOPIC
from user_service.tasks.email import send_welcome_email
from user_service.tasks.outbox import relay_outbox, relay_pending


@pytest.fixture
def mailer(smtp_mailer: Mailer) -> Mailer:
    """The worker's tasks deliver to the ``smtp`` catcher in this module."""
    return smtp_mailer


@pytest.fixture
def celery_app(container: Container, redis_url: str, redis: Any) -> Iterator[Any]:
    app = create_worker_app(container, result_backend=redis_url)
    yield app
    app.close()


def test_signup_email_goes_out_once_through_the_worker(
    db: Session, smtp: SmtpCatcher, celery_app: Any, make_user: MakeUser, deps: Deps
) -> None:
    user = make_user(email="worker@example.com")
    message_id = db.scalar(
        select(OutboxMessage.id).where(OutboxMessage.topic == WELCOME_EMAIL_TOPIC)
    )
    assert relay_outbox(deps) == 2  # the welcome and the verification email
    assert relay_outbox(deps) == 0  # relayed rows are not published again
    assert db.scalar(select(func.count()).where(OutboxMessage.relayed_at.is_(None))) == 0
    # Publish the same task again, as a redelivery would.
    duplicate = send_welcome_email.apply_async(args=[user.id], task_id="duplicate-delivery")
    relayed = celery_app.AsyncResult(f"outbox-{message_id}")
    # The worker starts after publishing, so it never uses the test's session concurrently.
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        outcomes = sorted([relayed.get(timeout=30), duplicate.get(timeout=30)])
        deadline = time.monotonic() + 30
        while len(smtp.messages) < 2:  # the verification email's task, relayed above
            assert time.monotonic() < deadline, "the verification email did not arrive"
            time.sleep(0.05)  # polling interval
    assert outcomes == [False, True]  # one delivery sent, the other found it sent
    assert [m["To"] for m in smtp.messages] == ["worker@example.com"] * 2
    assert sorted(m["Subject"] for m in smtp.messages) == [
        "Confirm your email address",
        "Welcome!",
    ]
    assert db.scalar(select(func.count()).select_from(SentEmail)) == 2


def test_the_task_carries_the_request_id_of_the_signup(
    db: Session, celery_app: Any, redis: Any, make_user: MakeUser, deps: Deps
) -> None:
    import json

    from alvin_python_lib.logging import bind_request_id, clear_request_id, get_request_id

    bind_request_id("req-from-signup")
    make_user(email="traced@example.com")
    bind_request_id("relay-tick")  # the scheduler job's own id
    try:
        assert relay_outbox(deps) == 2  # the welcome and the verification email
        assert get_request_id() == "relay-tick"  # restored after publishing
    finally:
        clear_request_id()
    raws = redis.lrange("celery", 0, -1)
    assert len(raws) == 2
    for raw in raws:
        assert json.loads(raw)["headers"]["request_id"] == "req-from-signup"


def test_one_tick_relays_every_pending_batch(
    db: Session, celery_app: Any, redis: Any, make_user: MakeUser, deps: Deps
) -> None:
    for n in range(7):
        make_user(email=f"burst-{n}@example.com")
    # two emails per signup (welcome, verification): batches of 3, 3, 3, 3 and 2 in one call
    assert relay_pending(deps, batch_size=3) == 14
    assert relay_pending(deps, batch_size=3) == 0
    assert db.scalar(select(func.count()).where(OutboxMessage.relayed_at.is_(None))) == 0
    assert redis.llen("celery") == 14
    for n in range(3):
        make_user(email=f"capped-{n}@example.com")
    assert (
        relay_pending(deps, batch_size=1, max_batches=2) == 2
    )  # the cap leaves the rest for later
    assert relay_pending(deps, batch_size=1) == 4
