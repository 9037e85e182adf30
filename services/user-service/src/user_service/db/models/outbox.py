"""The transactional outbox and the record of sent emails (idempotency of the email task)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Index, Integer, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from alvin_python_lib.db import SnowflakePrimaryKey, utcnow
from user_service.db.models.base import Base


class OutboxMessage(SnowflakePrimaryKey, Base):
    """A message written in the same transaction as the change it announces.

    The scheduler's relay job publishes unrelayed rows to Celery and stamps ``relayed_at``, so a
    change committed while the broker is down is still announced once the broker is back.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_pending", "id", postgresql_where=text("relayed_at IS NULL")),
    )

    topic: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # Context of the request that wrote the row (request_id; later trace context), so that the
    # task it becomes logs under the same request id.
    headers: Mapped[dict[str, str]] = mapped_column(
        JSONB, default=dict, server_default=text("'{}'::jsonb")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    relayed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))


class SentEmail(SnowflakePrimaryKey, Base):
    """One email that left through SMTP; ``key`` makes redelivered tasks send nothing."""

    __tablename__ = "sent_emails"
    __table_args__ = (Index("uq_sent_emails_key", "key", unique=True),)

    key: Mapped[str] = mapped_column(String(200))
    recipient: Mapped[str] = mapped_column(String(254))
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
