"""Every RPC through a real gRPC server and client on loopback, happy path and errors."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from support import DEFAULT_PASSWORD

from alvin_grpc.client import create_channel, idempotent_methods
from alvin_grpc.server import ServerSettings
from alvin_grpc.testing import assert_rpc_error
from alvin_protos.alvin.user.v1 import user_service_pb2 as pb
from alvin_protos.alvin.user.v1 import user_service_pb2_grpc as pb_grpc
from user_service.app.server import registration
from user_service.db.models import OutboxMessage, User
from user_service.service.deps import Deps

TOKEN = "test-service-token"
SERVICE = pb.DESCRIPTOR.services_by_name["UserService"]


@pytest.fixture
def server_address(db: Session, grpc_server_factory: Callable[..., Any], deps: Deps) -> str:
    settings = ServerSettings(grpc_service_token=SecretStr(TOKEN), grpc_grace_period_s=0)
    server, _ = grpc_server_factory([registration(deps)], settings, database=deps.database)
    return str(server.address)


@pytest.fixture
def stub(server_address: str) -> Iterator[pb_grpc.UserServiceStub]:
    channel = create_channel(
        server_address, token=TOKEN, retry_methods=idempotent_methods(SERVICE), default_timeout=10
    )
    yield pb_grpc.UserServiceStub(channel)
    channel.close()


def _signup(stub: pb_grpc.UserServiceStub, email: str, **extra: Any) -> pb.User:
    request = pb.CreateUserRequest(
        email=email,
        password=DEFAULT_PASSWORD,
        display_name=email.split("@", maxsplit=1)[0],
        **extra,
    )
    return stub.CreateUser(request).user


def test_create_get_and_batch(stub: pb_grpc.UserServiceStub) -> None:
    alice = _signup(stub, "Alice@Example.com")
    bob = _signup(stub, "bob@example.com", invited_by_id=alice.id)
    assert alice.email == "alice@example.com"
    assert alice.id > 2**32  # a 64-bit snowflake
    assert alice.created_at.seconds > 0
    assert not alice.HasField("invited_by_id")
    assert bob.invited_by_id == alice.id

    assert stub.GetUser(pb.GetUserRequest(id=bob.id)).user == bob
    batch = stub.BatchGetUsers(pb.BatchGetUsersRequest(ids=[bob.id, 42, alice.id]))
    assert [u.id for u in batch.users] == [bob.id, alice.id]
    assert list(batch.missing_ids) == [42]


def test_create_user_errors(stub: pb_grpc.UserServiceStub, db: Session) -> None:
    _signup(stub, "taken@example.com")
    with pytest.raises(grpc.RpcError) as info:
        _signup(stub, "TAKEN@example.com")
    assert_rpc_error(info, grpc.StatusCode.ALREADY_EXISTS)
    with pytest.raises(grpc.RpcError) as bad:
        stub.CreateUser(pb.CreateUserRequest(email="nope", password="short", display_name=""))
    assert_rpc_error(
        bad,
        grpc.StatusCode.INVALID_ARGUMENT,
        field_violations=["email", "password", "display_name"],
    )
    # nothing half-written: one user, its welcome and verification emails
    assert db.scalar(select(func.count()).select_from(User)) == 1
    assert db.scalar(select(func.count()).select_from(OutboxMessage)) == 2


def test_get_and_batch_errors(stub: pb_grpc.UserServiceStub) -> None:
    with pytest.raises(grpc.RpcError) as missing:
        stub.GetUser(pb.GetUserRequest(id=123))
    assert_rpc_error(missing, grpc.StatusCode.NOT_FOUND)
    with pytest.raises(grpc.RpcError) as zero:
        stub.GetUser(pb.GetUserRequest(id=0))
    assert_rpc_error(zero, grpc.StatusCode.INVALID_ARGUMENT, field_violations=["id"])
    huge = 2**64 - 1  # a valid uint64 that no BIGINT id can be
    with pytest.raises(grpc.RpcError) as beyond:
        stub.GetUser(pb.GetUserRequest(id=huge))
    assert_rpc_error(beyond, grpc.StatusCode.NOT_FOUND)
    assert list(stub.BatchGetUsers(pb.BatchGetUsersRequest(ids=[huge])).missing_ids) == [huge]
    with pytest.raises(grpc.RpcError) as too_many:
        stub.BatchGetUsers(pb.BatchGetUsersRequest(ids=list(range(1, 502))))
    assert_rpc_error(too_many, grpc.StatusCode.INVALID_ARGUMENT, field_violations=["ids"])


def test_list_users_pages(stub: pb_grpc.UserServiceStub) -> None:
    made = [_signup(stub, f"list{n}@example.com").id for n in range(3)]
    first = stub.ListUsers(pb.ListUsersRequest(page_size=2))
    second = stub.ListUsers(pb.ListUsersRequest(page_size=2, page_token=first.next_page_token))
    assert [u.id for u in first.users] + [u.id for u in second.users] == sorted(made)
    assert second.next_page_token == ""
    with pytest.raises(grpc.RpcError) as bad:
        stub.ListUsers(pb.ListUsersRequest(page_size=-1, page_token="%%%"))
    assert_rpc_error(
        bad, grpc.StatusCode.INVALID_ARGUMENT, field_violations=["page_size", "page_token"]
    )


def test_update_user(stub: pb_grpc.UserServiceStub) -> None:
    user = _signup(stub, "upd@example.com")
    _signup(stub, "other@example.com")
    renamed = stub.UpdateUser(
        pb.UpdateUserRequest(
            user=pb.User(id=user.id, display_name="Renamed", email="ignored@example.com"),
            update_mask=FieldMask(paths=["display_name"]),
        )
    ).user
    assert (renamed.display_name, renamed.email) == ("Renamed", "upd@example.com")
    with pytest.raises(grpc.RpcError) as taken:
        stub.UpdateUser(
            pb.UpdateUserRequest(
                user=pb.User(id=user.id, email="other@example.com"),
                update_mask=FieldMask(paths=["email"]),
            )
        )
    assert_rpc_error(taken, grpc.StatusCode.ALREADY_EXISTS)
    with pytest.raises(grpc.RpcError) as unknown_field:
        stub.UpdateUser(
            pb.UpdateUserRequest(user=pb.User(id=user.id), update_mask=FieldMask(paths=["id"]))
        )
    assert_rpc_error(
        unknown_field, grpc.StatusCode.INVALID_ARGUMENT, field_violations=["update_mask"]
    )
    with pytest.raises(grpc.RpcError) as missing:
        stub.UpdateUser(
            pb.UpdateUserRequest(
                user=pb.User(id=999, display_name="x"),
                update_mask=FieldMask(paths=["display_name"]),
            )
        )
    assert_rpc_error(missing, grpc.StatusCode.NOT_FOUND)


def test_sessions_login_validate_revoke(stub: pb_grpc.UserServiceStub) -> None:
    user = _signup(stub, "sess@example.com")
    login = stub.Authenticate(
        pb.AuthenticateRequest(
            email="sess@example.com", password=DEFAULT_PASSWORD, user_agent="t", client_ip="::1"
        )
    )
    assert login.user.id == user.id
    assert login.expires_at.seconds > 0
    valid = stub.ValidateSession(pb.ValidateSessionRequest(session_token=login.session_token))
    assert valid.user.id == user.id
    stub.RevokeSession(pb.RevokeSessionRequest(session_token=login.session_token))
    stub.RevokeSession(pb.RevokeSessionRequest(session_token=login.session_token))
    with pytest.raises(grpc.RpcError) as revoked:
        stub.ValidateSession(pb.ValidateSessionRequest(session_token=login.session_token))
    assert_rpc_error(revoked, grpc.StatusCode.UNAUTHENTICATED)
    with pytest.raises(grpc.RpcError) as wrong:
        stub.Authenticate(pb.AuthenticateRequest(email="sess@example.com", password="bad pass!!"))
    assert_rpc_error(wrong, grpc.StatusCode.UNAUTHENTICATED, details="Invalid email or password")


def test_throttled_login_is_resource_exhausted_with_retry_info(
    stub: pb_grpc.UserServiceStub,
) -> None:
    from alvin_grpc.errors import rpc_status_of, unpack_details

    _signup(stub, "throttle@example.com")
    for _ in range(3):
        with pytest.raises(grpc.RpcError):
            stub.Authenticate(
                pb.AuthenticateRequest(email="throttle@example.com", password="wrong pass!")
            )
    with pytest.raises(grpc.RpcError) as info:
        stub.Authenticate(
            pb.AuthenticateRequest(email="throttle@example.com", password=DEFAULT_PASSWORD)
        )
    error = assert_rpc_error(info, grpc.StatusCode.RESOURCE_EXHAUSTED)
    _, _, retry = unpack_details(rpc_status_of(error))
    assert retry is not None
    assert retry.retry_delay.seconds > 0


def test_change_password_and_delete(stub: pb_grpc.UserServiceStub) -> None:
    user = _signup(stub, "pw@example.com")
    login = stub.Authenticate(
        pb.AuthenticateRequest(email="pw@example.com", password=DEFAULT_PASSWORD)
    )
    with pytest.raises(grpc.RpcError) as wrong:
        stub.ChangePassword(
            pb.ChangePasswordRequest(
                user_id=user.id, current_password="not it at all", new_password="brand new secret"
            )
        )
    assert_rpc_error(wrong, grpc.StatusCode.INVALID_ARGUMENT, field_violations=["current_password"])
    stub.ChangePassword(
        pb.ChangePasswordRequest(
            user_id=user.id, current_password=DEFAULT_PASSWORD, new_password="brand new secret"
        )
    )
    with pytest.raises(grpc.RpcError) as revoked:
        stub.ValidateSession(pb.ValidateSessionRequest(session_token=login.session_token))
    assert_rpc_error(revoked, grpc.StatusCode.UNAUTHENTICATED)

    stub.DeleteUser(pb.DeleteUserRequest(id=user.id))
    with pytest.raises(grpc.RpcError) as gone:
        stub.GetUser(pb.GetUserRequest(id=user.id))
    assert_rpc_error(gone, grpc.StatusCode.NOT_FOUND)
    with pytest.raises(grpc.RpcError) as again:
        stub.DeleteUser(pb.DeleteUserRequest(id=user.id))
    assert_rpc_error(again, grpc.StatusCode.NOT_FOUND)


def test_calls_without_the_service_credential_are_unauthenticated(server_address: str) -> None:
    for token in (None, "wrong-token"):
        channel = create_channel(server_address, token=token)
        with pytest.raises(grpc.RpcError) as info:
            pb_grpc.UserServiceStub(channel).GetUser(pb.GetUserRequest(id=1))
        assert_rpc_error(info, grpc.StatusCode.UNAUTHENTICATED)
        health = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=SERVICE.full_name)
        )
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        channel.close()
