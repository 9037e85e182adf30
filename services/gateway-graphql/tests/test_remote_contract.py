"""The remote client against the real user-service: the gateway's half of the contract."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timezone

import pytest
from conftest import PASSWORD, TOKEN, unique_email
from support.rpc_counter import RpcCounter
from support.user_service_process import UserServiceProcess

from alvin_protos.alvin.user.v1 import user_service_pb2 as pb
from alvin_python_lib.errors import (
    AlreadyExists,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Unauthenticated,
)
from alvin_python_lib.logging import bind_request_id, clear_request_id
from gateway_graphql.remote.user_service import (
    ServiceCredentialsRejected,
    User,
    UserServiceClient,
    retry_methods,
)


@pytest.fixture
def counter() -> RpcCounter:
    return RpcCounter()


@pytest.fixture
def client(user_service: UserServiceProcess, counter: RpcCounter) -> Iterator[UserServiceClient]:
    with UserServiceClient.connect(
        user_service.target, token=TOKEN, timeout_s=5, interceptors=[counter]
    ) as client:
        yield client


def test_retries_only_the_idempotent_methods() -> None:
    assert sorted(retry_methods()) == [
        f"/alvin.user.v1.UserService/{name}"
        for name in (
            "AdminDeleteUser",
            "BatchGetUsers",
            "DeactivateUser",
            "DeleteUser",
            "GetUser",
            "ListSessions",
            "ListUsers",
            "ReactivateUser",
            "RevokeOtherSessions",
            "RevokeSession",
            "ValidateSession",
        )
    ]


def test_users_round_trip(client: UserServiceClient) -> None:
    email = unique_email("contract")
    inviter = client.create_user(email=unique_email(), password=PASSWORD, display_name="Inv")
    user = client.create_user(
        email=email, password=PASSWORD, display_name=" Con ", invited_by_id=inviter.id
    )
    assert isinstance(user, User)
    assert user.email == email
    assert user.display_name == "Con"
    assert user.is_active
    assert user.invited_by_id == inviter.id
    assert user.last_login_at is None
    assert user.created_at.tzinfo is timezone.utc
    assert abs((datetime.now(timezone.utc) - user.created_at).total_seconds()) < 60
    assert client.get_user(user.id) == user

    found = client.batch_get_users([user.id, 2**62, inviter.id, user.id])
    assert found == {user.id: user, inviter.id: inviter}

    updated = client.update_user(user.id, display_name="Connie")
    assert updated.display_name == "Connie"
    assert updated.email == email
    assert updated.updated_at >= user.updated_at

    client.delete_user(user.id)
    with pytest.raises(NotFound):
        client.get_user(user.id)


def test_listing_pages(client: UserServiceClient) -> None:
    for n in range(3):
        client.create_user(email=unique_email(), password=PASSWORD, display_name=f"L{n}")
    first = client.list_users(page_size=2)
    assert len(first.users) == 2
    assert first.next_page_token
    second = client.list_users(page_size=2, page_token=first.next_page_token)
    assert second.users
    assert second.users[0].id > first.users[-1].id
    with pytest.raises(InvalidArgument) as info:
        client.list_users(page_token="garbage")
    assert [v.field for v in info.value.violations] == ["page_token"]


def test_sessions(client: UserServiceClient) -> None:
    email = unique_email("session")
    user = client.create_user(email=email, password=PASSWORD, display_name="S")
    session = client.authenticate(
        email=email, password=PASSWORD, user_agent="tests", client_ip="127.0.0.1"
    )
    assert session.user.id == user.id
    assert session.token
    assert session.expires_at > datetime.now(timezone.utc)
    assert session.user.last_login_at is not None
    info = client.validate_session(session.token, refresh=True)
    assert info.user.id == user.id
    client.revoke_session(session.token)
    client.revoke_session(session.token)  # idempotent
    with pytest.raises(Unauthenticated):
        client.validate_session(session.token)
    with pytest.raises(Unauthenticated):
        client.authenticate(email=email, password="wrong password!")


def test_errors_are_domain_exceptions(client: UserServiceClient) -> None:
    email = unique_email("errors")
    client.create_user(email=email, password=PASSWORD, display_name="E")
    with pytest.raises(AlreadyExists) as taken:
        client.create_user(email=email, password=PASSWORD, display_name="E")
    assert taken.value.field == "email"
    with pytest.raises(InvalidArgument) as invalid:
        client.create_user(email="nope", password="short", display_name="")
    assert {v.field for v in invalid.value.violations} == {"email", "password", "display_name"}
    with pytest.raises(NotFound):
        client.get_user(2**62)
    with pytest.raises(InvalidArgument) as empty:
        client.update_user(1)  # empty field mask
    assert [v.field for v in empty.value.violations] == ["update_mask"]


def test_throttling_carries_retry_after(client: UserServiceClient) -> None:
    email = unique_email("throttle")
    client.create_user(email=email, password=PASSWORD, display_name="T")
    for _ in range(3):
        with pytest.raises(Unauthenticated):
            client.authenticate(email=email, password="wrong password!")
    with pytest.raises(ResourceExhausted) as info:
        client.authenticate(email=email, password=PASSWORD)
    assert info.value.retry_after is not None
    assert info.value.retry_after > 0


def test_change_password_revokes_sessions(client: UserServiceClient) -> None:
    email = unique_email("change")
    user = client.create_user(email=email, password=PASSWORD, display_name="C")
    session = client.authenticate(email=email, password=PASSWORD)
    with pytest.raises(InvalidArgument) as wrong:
        client.change_password(user.id, current_password="nope nope nope", new_password="x" * 12)
    assert [v.field for v in wrong.value.violations] == ["current_password"]
    client.change_password(user.id, current_password=PASSWORD, new_password="brand new pass 1")
    with pytest.raises(Unauthenticated):
        client.validate_session(session.token)


def test_wrong_service_token_is_a_deployment_error(user_service: UserServiceProcess) -> None:
    with UserServiceClient.connect(user_service.target, token="wrong", timeout_s=5) as client:
        with pytest.raises(ServiceCredentialsRejected):
            client.get_user(1)
        with pytest.raises(ServiceCredentialsRejected):
            client.validate_session("some-token")  # not the end user's fault either
        assert client.health(timeout=2) == "SERVING"  # health needs no credential


def test_metadata_request_id_token_and_deadline(
    client: UserServiceClient, counter: RpcCounter
) -> None:
    bind_request_id("contract-rid-1")
    try:
        response, call = client.stub.ListUsers.with_call(pb.ListUsersRequest(page_size=1))
    finally:
        clear_request_id()
    assert isinstance(response, pb.ListUsersResponse)
    sent = counter.calls[-1].metadata
    assert sent["x-request-id"] == "contract-rid-1"
    assert sent["authorization"] == f"Bearer {TOKEN}"
    # the server bound the same id for its logs and echoes it
    assert ("x-request-id", "contract-rid-1") in tuple(call.trailing_metadata())
    assert counter.calls[-1].timeout == 5  # the default deadline (timeout_s)


def test_health(client: UserServiceClient) -> None:
    assert client.health(timeout=2) == "SERVING"


def test_batches_above_the_contract_limit_are_split(
    client: UserServiceClient, counter: RpcCounter, make_user: Callable[..., User]
) -> None:
    user = make_user()
    counter.reset()
    found = client.batch_get_users([*range(10**12, 10**12 + 600), user.id])
    assert found == {user.id: user}
    assert counter.counts() == {"BatchGetUsers": 2}
