"""The outbox and the sent-email record."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from user_service.db.models import OutboxMessage, SentEmail


def add_message(
    session: Session,
    message_id: int,
    topic: str,
    payload: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> OutboxMessage:
    """Queue a message in the current transaction."""
    message = OutboxMessage(id=message_id, topic=topic, payload=payload, headers=headers or {})
    session.add(message)
    return message


def claim_pending(session: Session, limit: int) -> list[OutboxMessage]:
    """Lock up to ``limit`` unrelayed messages, oldest first, skipping rows others hold."""
    stmt = (
        select(OutboxMessage)
        .where(OutboxMessage.relayed_at.is_(None))
        .order_by(OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(session.scalars(stmt))


def mark_relayed(session: Session, message_ids: Sequence[int], now: datetime) -> None:
    """Stamp messages as relayed."""
    if message_ids:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(message_ids))
            .values(relayed_at=now, attempts=OutboxMessage.attempts + 1)
        )


def oldest_pending_created_at(session: Session) -> datetime | None:
    """Creation time of the oldest unrelayed message (outbox lag)."""
    stmt = select(func.min(OutboxMessage.created_at)).where(OutboxMessage.relayed_at.is_(None))
    return session.scalar(stmt)


def claim_email_key(session: Session, row_id: int, key: str, recipient: str) -> bool:
    """Record that the email ``key`` is being sent; False when it was sent already.

    The row is inserted in the caller's transaction: a concurrent sender of the same key waits on
    the unique index until this transaction ends, then finds the key taken.
    """
    stmt = (
        insert(SentEmail)
        .values(id=row_id, key=key, recipient=recipient)
        .on_conflict_do_nothing(index_elements=[SentEmail.key])
        .returning(SentEmail.id)
    )
    return session.execute(stmt).scalar_one_or_none() is not None
