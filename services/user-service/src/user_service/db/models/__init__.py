"""SQLAlchemy models of the user-service (one metadata, built by the Alembic migrations)."""

from user_service.db.models.account_token import AccountToken
from user_service.db.models.base import Base
from user_service.db.models.outbox import OutboxMessage, SentEmail
from user_service.db.models.session import UserSession
from user_service.db.models.throttle import AuthThrottle
from user_service.db.models.user import User

__all__ = [
    "AccountToken",
    "AuthThrottle",
    "Base",
    "OutboxMessage",
    "SentEmail",
    "User",
    "UserSession",
]
