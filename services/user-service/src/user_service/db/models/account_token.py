"""Single-use account tokens (reset, verify, email change): only the SHA-256 of each is stored."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from alvin_python_lib.db import SnowflakePrimaryKey, utcnow
from user_service.db.models.base import Base


class AccountToken(SnowflakePrimaryKey, Base):
    """A token emailed to a user; ``used_at`` makes it single-use, ``expires_at`` short-lived.

    ``purpose`` is ``reset``, ``verify`` or ``email_change``; ``new_email`` is the address the
    token was mailed to (for an email change, the address the user moves to once it is used).
    """

    __tablename__ = "account_tokens"
    __table_args__ = (
        Index("uq_account_tokens_token_hash", "token_hash", unique=True),
        Index(
            "ix_account_tokens_user_id_purpose",
            "user_id",
            "purpose",
            postgresql_where=text("used_at IS NULL"),
        ),
        Index("ix_account_tokens_expires_at", "expires_at"),
    )

    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    purpose: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    new_email: Mapped[str | None] = mapped_column(String(254), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
