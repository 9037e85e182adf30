"""Shared test helpers: sample messages and a partial UserService servicer."""

from __future__ import annotations

from datetime import datetime, timezone

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from alvin_protos.alvin.user.v1 import user_service_pb2 as user_pb
from alvin_protos.alvin.user.v1 import user_service_pb2_grpc as user_grpc

MAX_UINT64 = 2**64 - 1
USER_SERVICE = user_pb.DESCRIPTOR.services_by_name["UserService"].full_name
CREATED_AT = datetime(2026, 11, 28, 12, 34, 56, 789012, tzinfo=timezone.utc)


def timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def sample_user(user_id: int = MAX_UINT64, **fields: object) -> user_pb.User:
    values: dict[str, object] = {
        "id": user_id,
        "email": "ada@example.com",
        "display_name": "Ada",
        "invited_by_id": MAX_UINT64 - 1,
        "is_active": True,
        "created_at": timestamp(CREATED_AT),
        "updated_at": timestamp(CREATED_AT),
    }
    values.update(fields)
    return user_pb.User(**values)  # type: ignore[arg-type]


class GetUserOnlyServicer(user_grpc.UserServiceServicer):
    """Implements GetUser over a dict; every other RPC keeps the generated UNIMPLEMENTED answer."""

    def __init__(self, users: dict[int, user_pb.User]) -> None:
        self.users = users

    def GetUser(
        self, request: user_pb.GetUserRequest, context: grpc.ServicerContext
    ) -> user_pb.GetUserResponse:
        user = self.users.get(request.id)
        if user is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"no user with id {request.id}")
        return user_pb.GetUserResponse(user=user)
