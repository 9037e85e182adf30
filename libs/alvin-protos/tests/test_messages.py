"""The generated messages: wire and JSON round trips, presence, Timestamp and FieldMask fields."""

from __future__ import annotations

import pickle
from datetime import datetime, timedelta, timezone
from typing import TypeVar

import pytest
from google.protobuf import json_format
from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.message import Message
from support import CREATED_AT, MAX_UINT64, sample_user, timestamp

from alvin_protos.alvin.user.v1 import user_service_pb2 as user_pb

M = TypeVar("M", bound=Message)


def roundtrip(message: M) -> M:
    data = message.SerializeToString()
    parsed = type(message).FromString(data)
    assert parsed == message
    assert parsed.SerializeToString() == data
    return parsed


def test_user_roundtrip_keeps_max_uint64_ids_and_timestamps() -> None:
    last_login = CREATED_AT + timedelta(days=3, microseconds=1)
    user = sample_user(last_login_at=timestamp(last_login))

    parsed = roundtrip(user)

    assert parsed.id == MAX_UINT64 == 18_446_744_073_709_551_615
    assert parsed.invited_by_id == MAX_UINT64 - 1
    assert parsed.email == "ada@example.com"
    assert parsed.is_active is True
    assert parsed.created_at.ToDatetime(tzinfo=timezone.utc) == CREATED_AT
    assert parsed.last_login_at.ToDatetime(tzinfo=timezone.utc) == last_login


def test_timestamps_keep_nanoseconds() -> None:
    user = user_pb.User(id=1)
    user.updated_at.seconds = 1_795_000_000
    user.updated_at.nanos = 123_456_789

    parsed = roundtrip(user)

    assert (parsed.updated_at.seconds, parsed.updated_at.nanos) == (1_795_000_000, 123_456_789)


def test_ids_are_unsigned_64_bit() -> None:
    with pytest.raises(ValueError, match=r"[Oo]ut of range"):
        user_pb.User(id=2**64)
    with pytest.raises(ValueError, match=r"[Oo]ut of range"):
        user_pb.GetUserRequest(id=-1)


def test_optional_fields_have_presence() -> None:
    user = user_pb.User(id=1)
    assert not user.HasField("invited_by_id")
    assert not user.HasField("last_login_at")

    user.invited_by_id = 0  # present even when zero: "invited by user 0" differs from "not invited"
    parsed = roundtrip(user)

    assert parsed.HasField("invited_by_id")
    assert parsed.invited_by_id == 0
    request = roundtrip(user_pb.CreateUserRequest(email="a@b.c", password="pw", display_name="A"))
    assert not request.HasField("invited_by_id")


def test_batch_get_response_keeps_order_and_missing_ids() -> None:
    response = user_pb.BatchGetUsersResponse(
        users=[sample_user(MAX_UINT64), sample_user(7)],
        missing_ids=[MAX_UINT64 - 1, 1],
    )

    parsed = roundtrip(response)

    assert [u.id for u in parsed.users] == [MAX_UINT64, 7]
    assert list(parsed.missing_ids) == [MAX_UINT64 - 1, 1]


def test_update_request_roundtrip_with_field_mask() -> None:
    request = user_pb.UpdateUserRequest(
        user=user_pb.User(id=MAX_UINT64, display_name="Ada L.", email="ada@new.example"),
        update_mask=FieldMask(paths=["display_name", "email"]),
    )

    parsed = roundtrip(request)

    assert list(parsed.update_mask.paths) == ["display_name", "email"]
    assert parsed.update_mask.IsValidForDescriptor(user_pb.User.DESCRIPTOR)
    # The mask applies only the named fields (what the service does with it):
    stored = sample_user()
    parsed.update_mask.MergeMessage(parsed.user, stored)
    assert (stored.display_name, stored.email) == ("Ada L.", "ada@new.example")
    assert stored.created_at == timestamp(CREATED_AT)  # untouched
    # No secret is reachable through a mask on User:
    assert not FieldMask(paths=["password"]).IsValidForDescriptor(user_pb.User.DESCRIPTOR)


def test_session_messages_roundtrip() -> None:
    expires = datetime(2026, 12, 28, tzinfo=timezone.utc)
    response = user_pb.AuthenticateResponse(
        session_token="opaque-token", expires_at=timestamp(expires), user=sample_user()
    )

    parsed = roundtrip(response)

    assert parsed.expires_at.ToDatetime(tzinfo=timezone.utc) == expires
    assert parsed.user.id == MAX_UINT64
    validate = roundtrip(user_pb.ValidateSessionRequest(session_token="opaque-token", refresh=True))
    assert validate.refresh is True


def test_json_renders_ids_as_strings() -> None:
    user = sample_user()

    as_dict = json_format.MessageToDict(user, preserving_proto_field_name=True)

    assert as_dict["id"] == "18446744073709551615"
    assert as_dict["invited_by_id"] == "18446744073709551614"
    assert as_dict["created_at"] == "2026-11-28T12:34:56.789012Z"
    assert json_format.ParseDict(as_dict, user_pb.User()) == user
    mask = json_format.MessageToDict(
        user_pb.UpdateUserRequest(update_mask=FieldMask(paths=["display_name", "is_active"]))
    )
    assert mask == {"updateMask": "displayName,isActive"}


def test_messages_pickle_under_the_package_module_name() -> None:
    user = sample_user()

    assert type(user).__module__ == "alvin_protos.alvin.user.v1.user_service_pb2"
    assert pickle.loads(pickle.dumps(user)) == user
