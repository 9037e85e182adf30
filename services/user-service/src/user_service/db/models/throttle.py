"""Failed-login counters per email and per client address (fixed windows)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from user_service.db.models.base import Base


class AuthThrottle(Base):
    """``key`` is ``email:<normalised email>`` or ``ip:<address>``."""

    __tablename__ = "auth_throttle"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    failures: Mapped[int] = mapped_column(Integer)
