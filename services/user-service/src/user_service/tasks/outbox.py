"""The outbox relay: publishes committed messages to Celery (run by the scheduler)."""

from __future__ import annotations

from alvin_python_lib.db import transaction, utcnow
from alvin_python_lib.logging import get_logger
from user_service.db import database
from user_service.db.repository import outbox as outbox_repo
from user_service.service.users import WELCOME_EMAIL_TOPIC
from user_service.tasks.email import send_welcome_email

log = get_logger(__name__)


def relay_outbox(batch_size: int = 100) -> int:
    """Publish up to ``batch_size`` pending messages; returns how many were relayed.

    Rows are locked (SKIP LOCKED) while being published and stamped in the same transaction, so
    two relays never publish one row twice at the same time. If the broker is down, publishing
    raises, the transaction rolls back and the rows stay pending for the next tick. A crash after
    publishing but before the commit republishes: the tasks are idempotent.
    """
    with transaction(database.session):
        messages = outbox_repo.claim_pending(batch_size)
        relayed = []
        for message in messages:
            if message.topic == WELCOME_EMAIL_TOPIC:
                send_welcome_email.apply_async(
                    args=[int(message.payload["user_id"])], task_id=f"outbox-{message.id}"
                )
            else:
                log.warning("outbox.unknown_topic", topic=message.topic, message_id=message.id)
            relayed.append(message.id)
        outbox_repo.mark_relayed(relayed, utcnow())
    if relayed:
        log.info("outbox.relayed", count=len(relayed))
    return len(relayed)
