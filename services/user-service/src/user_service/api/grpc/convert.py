"""Domain objects -> protobuf messages."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from alvin_protos.alvin.user.v1 import user_service_pb2 as pb
from user_service.db.models import User, UserSession
from user_service.db.repository.user import UserRecord


def timestamp(value: datetime) -> Timestamp:
    """A protobuf Timestamp for a timezone-aware datetime."""
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def user_to_proto(user: User | UserRecord) -> pb.User:
    """The wire form of a user (never the password hash)."""
    message = pb.User(
        id=user.id,
        email=user.email,
        display_name=user.display_name,
        is_active=user.is_active,
        admin=user.admin,
        email_verified=user.email_verified,
        created_at=timestamp(user.created_at),
        updated_at=timestamp(user.updated_at),
    )
    if user.invited_by_id is not None:
        message.invited_by_id = user.invited_by_id
    if user.last_login_at is not None:
        message.last_login_at.CopyFrom(timestamp(user.last_login_at))
    return message


def session_to_proto(user_session: UserSession, *, current: bool) -> pb.Session:
    """The wire form of a session as its owner sees it (never its token hash)."""
    return pb.Session(
        id=user_session.id,
        user_agent=user_session.user_agent,
        client_ip=user_session.client_ip,
        created_at=timestamp(user_session.created_at),
        last_seen_at=timestamp(user_session.last_seen_at or user_session.created_at),
        expires_at=timestamp(user_session.expires_at),
        current=current,
    )
