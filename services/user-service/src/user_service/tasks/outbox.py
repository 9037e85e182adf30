"""The outbox relay: publishes committed messages to Celery (run by the scheduler)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from alvin_python_lib import telemetry
from alvin_python_lib.db import transaction
from alvin_python_lib.logging import (
    bind_request_id,
    clear_request_id,
    get_logger,
    get_request_id,
)
from user_service.db.repository import outbox as outbox_repo
from user_service.service.account_mail import ACCOUNT_EMAIL_TOPIC
from user_service.service.deps import Deps
from user_service.service.users import WELCOME_EMAIL_TOPIC
from user_service.tasks.email import send_account_email, send_welcome_email

log = get_logger(__name__)


@contextmanager
def request_context(request_id: str | None) -> Iterator[None]:
    """Bind ``request_id`` (when given) for the block, then restore the caller's."""
    previous = get_request_id()
    if request_id:
        bind_request_id(request_id)
    try:
        yield
    finally:
        if request_id:
            if previous:
                bind_request_id(previous)
            else:
                clear_request_id()


def relay_outbox(deps: Deps, batch_size: int = 100) -> int:
    """Publish up to ``batch_size`` pending messages; returns how many were relayed.

    Rows are locked (SKIP LOCKED) while being published and stamped in the same transaction, so
    two relays never publish one row twice at the same time. If the broker is down, publishing
    raises, the transaction rolls back and the rows stay pending for the next tick. A crash after
    publishing but before the commit republishes: the tasks are idempotent.
    """
    with transaction(deps.database.session) as session:
        messages = outbox_repo.claim_pending(session, batch_size)
        relayed = []
        for message in messages:
            if message.topic == WELCOME_EMAIL_TOPIC:
                # Publish under the request id of the request that wrote the row: the Celery
                # factory puts the bound id in the task headers, and the worker logs under it.
                # Its trace context too: the publish span (and the task's) join that trace.
                with (
                    request_context(message.headers.get("request_id")),
                    telemetry.trace_context(message.headers),
                ):
                    send_welcome_email.apply_async(
                        args=[int(message.payload["user_id"])], task_id=f"outbox-{message.id}"
                    )
                    log.info("outbox.published", topic=message.topic, message_id=message.id)
            elif message.topic == ACCOUNT_EMAIL_TOPIC:
                with (
                    request_context(message.headers.get("request_id")),
                    telemetry.trace_context(message.headers),
                ):
                    send_account_email.apply_async(
                        args=[message.id, dict(message.payload)], task_id=f"outbox-{message.id}"
                    )
                    log.info("outbox.published", topic=message.topic, message_id=message.id)
            else:
                log.warning("outbox.unknown_topic", topic=message.topic, message_id=message.id)
            relayed.append(message.id)
        outbox_repo.mark_relayed(session, relayed, deps.clock())
    if relayed:
        log.info("outbox.relayed", count=len(relayed))
    return len(relayed)


def relay_pending(deps: Deps, batch_size: int = 100, max_batches: int = 50) -> int:
    """Relay batches until the outbox is empty (at most ``max_batches``); returns the total.

    The scheduler's job. It drains rather than relaying one batch per tick, which would cap
    delivery at ``batch_size`` per interval (50 emails/s with the defaults) and keep a burst of
    signups waiting minutes for their emails. Each batch commits on its own, so a failure keeps
    what was already relayed.
    """
    total = 0
    for _ in range(max_batches):
        relayed = relay_outbox(deps, batch_size)
        total += relayed
        if relayed < batch_size:
            break
    return total
