"""Users."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from alvin_python_lib.db import SnowflakePrimaryKey, Timestamps
from user_service.db.models.base import Base


class User(SnowflakePrimaryKey, Timestamps, Base):
    """A user account. Deleting is soft: ``deleted_at`` is set and the email becomes free again."""

    __tablename__ = "users"
    __table_args__ = (
        # Unique among live accounts only; named uq_users_email so violations map to `email`.
        Index("uq_users_email", "email", unique=True, postgresql_where=text("deleted_at IS NULL")),
        Index("ix_users_invited_by_id", "invited_by_id"),
    )

    email: Mapped[str] = mapped_column(String(254))
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))
    invited_by_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    email_verified: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    password_changed_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), default=None
    )
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    #: An administrator (``user-service grant-admin``): may deactivate, reactivate and delete users.
    admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
