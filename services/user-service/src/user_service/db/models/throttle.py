"""Failed-login counters per email and per client address (fixed windows)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from user_service.db.models.base import Base


class AuthThrottle(Base):
    """``key`` names what is counted: ``email:<email>|ip:<address>`` (an account from one
    address), ``account:<email>``, ``ip:<address>``, ``signup:...``, ``password:<user id>``."""

    __tablename__ = "auth_throttle"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    failures: Mapped[int] = mapped_column(Integer)
    #: When the last counted failure happened (the growing delays are measured from it).
    last_failure_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
