"""Domain objects -> protobuf messages."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from alvin_protos.alvin.user.v1 import user_service_pb2 as pb
from user_service.db.models import User


def timestamp(value: datetime) -> Timestamp:
    """A protobuf Timestamp for a timezone-aware datetime."""
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def user_to_proto(user: User) -> pb.User:
    """The wire form of a user (never the password hash)."""
    message = pb.User(
        id=user.id,
        email=user.email,
        display_name=user.display_name,
        is_active=user.is_active,
        created_at=timestamp(user.created_at),
        updated_at=timestamp(user.updated_at),
    )
    if user.invited_by_id is not None:
        message.invited_by_id = user.invited_by_id
    if user.last_login_at is not None:
        message.last_login_at.CopyFrom(timestamp(user.last_login_at))
    return message
