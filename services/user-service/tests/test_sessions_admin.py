"""Sessions and devices (list, revoke one, revoke the others, absolute lifetime) and the admin
role (grant, deactivate, reactivate, delete), through the service and through gRPC."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import grpc
import pytest
from click.testing import CliRunner
from google.protobuf.descriptor_pb2 import MethodOptions
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session
from support import DEFAULT_PASSWORD, TEST_CONFIG, FixedClock, MakeUser

from alvin_grpc.client import create_channel, idempotent_methods
from alvin_grpc.server import ServerSettings
from alvin_grpc.testing import assert_rpc_error
from alvin_protos.alvin.user.v1 import user_service_pb2 as pb
from alvin_protos.alvin.user.v1 import user_service_pb2_grpc as pb_grpc
from alvin_python_lib.errors import (
    FailedPrecondition,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from user_service.app.server import registration
from user_service.app.settings import get_settings
from user_service.commands import cli
from user_service.db.models import User
from user_service.service import admin, auth, sessions
from user_service.service.deps import Deps

TOKEN = "test-service-token"
SERVICE = pb.DESCRIPTOR.services_by_name["UserService"]


def _login(deps: Deps, email: str, *, agent: str = "", ip: str = "") -> auth.LoginResult:
    return auth.authenticate(
        deps, email=email, password=DEFAULT_PASSWORD, user_agent=agent, client_ip=ip
    )


# ------------------------------------------------------------------------------ sessions


def test_list_sessions_shows_devices_newest_first_and_marks_the_current_one(
    db: Session, make_user: MakeUser, deps: Deps, clock: FixedClock
) -> None:
    make_user(email="dev@example.com")
    laptop = _login(deps, "dev@example.com", agent="Firefox", ip="10.0.0.1")
    clock.advance(timedelta(minutes=1))
    phone = _login(deps, "dev@example.com", agent="Safari", ip="10.0.0.2")
    make_user(email="other@example.com")
    _login(deps, "other@example.com")

    found = sessions.list_sessions(deps, laptop.token)
    assert [(s.session.user_agent, s.session.client_ip, s.current) for s in found] == [
        ("Safari", "10.0.0.2", False),
        ("Firefox", "10.0.0.1", True),
    ]
    assert found[1].session.created_at == found[1].session.last_seen_at
    assert [s.current for s in sessions.list_sessions(deps, phone.token)] == [True, False]


def test_revoke_one_session_and_the_others(
    db: Session, make_user: MakeUser, deps: Deps, clock: FixedClock
) -> None:
    make_user(email="rev@example.com")
    first, second, third = (_login(deps, "rev@example.com") for _ in range(3))
    ids = {s.session.id for s in sessions.list_sessions(deps, first.token)}
    second_id = next(s.session.id for s in sessions.list_sessions(deps, second.token) if s.current)
    assert sessions.revoke_session(deps, first.token, second_id) is False
    with pytest.raises(Unauthenticated):
        auth.validate_session(deps, second.token)
    with pytest.raises(NotFound):  # already revoked: no longer an open session
        sessions.revoke_session(deps, first.token, second_id)
    assert sessions.revoke_other_sessions(deps, first.token) == 1  # the third
    assert sessions.revoke_other_sessions(deps, first.token) == 0  # repeating is harmless
    with pytest.raises(Unauthenticated):
        auth.validate_session(deps, third.token)
    assert auth.validate_session(deps, first.token)
    assert len(ids) == 3
    own = next(s.session.id for s in sessions.list_sessions(deps, first.token))
    assert sessions.revoke_session(deps, first.token, own) is True
    with pytest.raises(Unauthenticated):
        sessions.list_sessions(deps, first.token)


def test_another_users_session_id_is_not_found_and_stays_open(
    db: Session, make_user: MakeUser, deps: Deps
) -> None:
    make_user(email="victim@example.com")
    make_user(email="stranger@example.com")
    victim = _login(deps, "victim@example.com")
    stranger = _login(deps, "stranger@example.com")
    victim_id = sessions.list_sessions(deps, victim.token)[0].session.id
    with pytest.raises(NotFound) as info:
        sessions.revoke_session(deps, stranger.token, victim_id)
    with pytest.raises(NotFound) as unknown:
        sessions.revoke_session(deps, stranger.token, victim_id + 12345)
    assert info.value.message.replace(str(victim_id), "#") == unknown.value.message.replace(
        str(victim_id + 12345), "#"
    )  # the same answer as for an id that does not exist
    assert auth.validate_session(deps, victim.token)


def test_idle_timeout_and_absolute_lifetime(
    db: Session, make_user: MakeUser, deps: Deps, clock: FixedClock
) -> None:
    config = replace(
        TEST_CONFIG, session_ttl=timedelta(hours=1), session_max_age=timedelta(hours=3)
    )
    deps = replace(deps, config=config)
    make_user(email="life@example.com")
    login = _login(deps, "life@example.com")
    started = clock()
    # used every 40 minutes: the sliding refresh keeps it alive, but never past 3 hours
    expiries = []
    for _ in range(6):
        clock.advance(timedelta(minutes=40))
        if clock() >= started + timedelta(hours=3):
            break
        info = auth.validate_session(deps, login.token, refresh=True)
        assert info.expires_at <= started + config.session_max_age
        expiries.append(info.expires_at)
    assert expiries[-1] == started + config.session_max_age
    clock.now = started + config.session_max_age
    with pytest.raises(Unauthenticated):
        auth.validate_session(deps, login.token, refresh=True)
    # idle: unused for longer than the idle timeout ends it
    other = _login(deps, "life@example.com")
    clock.advance(config.session_ttl)
    with pytest.raises(Unauthenticated):
        auth.validate_session(deps, other.token, refresh=True)


def test_lowering_the_absolute_lifetime_ends_older_sessions(
    db: Session, make_user: MakeUser, deps: Deps, clock: FixedClock
) -> None:
    make_user(email="lower@example.com")
    login = _login(deps, "lower@example.com")
    clock.advance(timedelta(minutes=30))
    shorter = replace(deps, config=replace(TEST_CONFIG, session_max_age=timedelta(minutes=30)))
    with pytest.raises(Unauthenticated):
        auth.validate_session(shorter, login.token)
    with pytest.raises(Unauthenticated):
        sessions.list_sessions(shorter, login.token)


def test_refresh_records_last_seen(
    db: Session, make_user: MakeUser, deps: Deps, clock: FixedClock
) -> None:
    make_user(email="seen@example.com")
    login = _login(deps, "seen@example.com")
    clock.advance(timedelta(minutes=10))
    auth.validate_session(deps, login.token, refresh=True)
    (row,) = sessions.list_sessions(deps, login.token)
    assert row.session.last_seen_at == clock()
    assert row.session.created_at == clock() - timedelta(minutes=10)


# --------------------------------------------------------------------------------- admin


@pytest.fixture
def admin_token(db: Session, make_user: MakeUser, deps: Deps) -> str:
    make_user(email="root@example.com")
    admin.grant_admin(deps, "ROOT@example.com")
    return _login(deps, "root@example.com").token


def test_admin_deactivates_reactivates_and_deletes(
    db: Session, make_user: MakeUser, deps: Deps, admin_token: str
) -> None:
    target = make_user(email="target@example.com")
    session = _login(deps, "target@example.com")
    assert admin.deactivate_user(deps, admin_token, target.id).is_active is False
    with pytest.raises(Unauthenticated):
        auth.validate_session(deps, session.token)
    with pytest.raises(Unauthenticated):
        _login(deps, "target@example.com")  # a deactivated user cannot log in
    assert admin.reactivate_user(deps, admin_token, target.id).is_active is True
    with pytest.raises(Unauthenticated):
        auth.validate_session(deps, session.token)  # revoked sessions stay revoked
    again = _login(deps, "target@example.com")
    admin.delete_user(deps, admin_token, target.id)
    with pytest.raises(Unauthenticated):
        auth.validate_session(deps, again.token)
    with pytest.raises(NotFound):
        admin.delete_user(deps, admin_token, target.id)


@pytest.mark.parametrize(
    "action", [admin.deactivate_user, admin.reactivate_user, admin.delete_user]
)
def test_a_normal_user_is_refused_and_nothing_changes(
    db: Session, make_user: MakeUser, deps: Deps, action: Callable[..., Any]
) -> None:
    make_user(email="normal@example.com")
    target = make_user(email="target2@example.com")
    token = _login(deps, "normal@example.com").token
    with pytest.raises(PermissionDenied):
        action(deps, token, target.id)
    with pytest.raises(PermissionDenied):  # the role is checked before the target is looked up
        action(deps, token, 424242)
    with pytest.raises(Unauthenticated):
        action(deps, "not-a-session", target.id)
    row = db.get(User, target.id)
    assert row is not None
    db.refresh(row)
    assert row.is_active
    assert row.deleted_at is None


def test_admins_cannot_target_themselves_and_unknown_users_are_not_found(
    db: Session, deps: Deps, admin_token: str
) -> None:
    me = sessions.current_session(deps, admin_token)[1]
    for action in (admin.deactivate_user, admin.delete_user):
        with pytest.raises(FailedPrecondition):
            action(deps, admin_token, me.id)
    with pytest.raises(NotFound):
        admin.deactivate_user(deps, admin_token, 987654321)
    with pytest.raises(NotFound):
        admin.grant_admin(deps, "nobody@example.com")


def test_revoked_admin_role_is_refused_at_once(
    db: Session, make_user: MakeUser, deps: Deps, admin_token: str
) -> None:
    target = make_user(email="t3@example.com")
    admin.grant_admin(deps, "root@example.com", admin=False)
    with pytest.raises(PermissionDenied):
        admin.deactivate_user(deps, admin_token, target.id)


# ----------------------------------------------------------------------------------- CLI


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, database_url: str, redis_url: str) -> Iterator[None]:
    monkeypatch.setenv("APP_ENV", "test")
    monkeypatch.setenv("USER_SERVICE_DATABASE_URL", database_url)
    monkeypatch.setenv("USER_SERVICE_REDIS_URL", redis_url)
    monkeypatch.setenv("USER_SERVICE_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("USER_SERVICE_ARGON2_MEMORY_COST_KIB", "8")
    monkeypatch.setenv("USER_SERVICE_ARGON2_PARALLELISM", "1")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_cli_create_user_admin_and_grant_admin(env: None, db: Session, make_user: MakeUser) -> None:
    runner = CliRunner()
    created = runner.invoke(
        cli,
        ["create-user", "boss@example.com", "--admin", "--password-stdin"],
        input="a long password 1\n",
    )
    assert created.exit_code == 0, created.output
    assert "administrator" in created.output
    assert db.scalar(select(User.admin).where(User.email == "boss@example.com")) is True

    make_user(email="later@example.com")
    granted = runner.invoke(cli, ["grant-admin", "Later@Example.com"])
    assert granted.exit_code == 0, granted.output
    assert db.scalar(select(User.admin).where(User.email == "later@example.com")) is True
    revoked = runner.invoke(cli, ["grant-admin", "later@example.com", "--revoke"])
    assert revoked.exit_code == 0, revoked.output
    assert db.scalar(select(User.admin).where(User.email == "later@example.com")) is False
    unknown = runner.invoke(cli, ["grant-admin", "ghost@example.com"])
    assert unknown.exit_code == 1
    assert "No user has the email" in unknown.output


# ---------------------------------------------------------------------------------- gRPC


@pytest.fixture
def stub(
    db: Session, grpc_server_factory: Callable[..., Any], deps: Deps
) -> Iterator[pb_grpc.UserServiceStub]:
    settings = ServerSettings(grpc_service_token=SecretStr(TOKEN), grpc_grace_period_s=0)
    server, _ = grpc_server_factory([registration(deps)], settings, database=deps.database)
    channel = create_channel(
        str(server.address),
        token=TOKEN,
        retry_methods=idempotent_methods(SERVICE),
        default_timeout=10,
    )
    yield pb_grpc.UserServiceStub(channel)
    channel.close()


def _rpc_login(stub: pb_grpc.UserServiceStub, email: str, agent: str = "") -> str:
    request = pb.AuthenticateRequest(email=email, password=DEFAULT_PASSWORD, user_agent=agent)
    return str(stub.Authenticate(request).session_token)


def test_sessions_over_grpc(stub: pb_grpc.UserServiceStub, make_user: MakeUser) -> None:
    make_user(email="g1@example.com")
    make_user(email="g2@example.com")
    first = _rpc_login(stub, "g1@example.com", "agent-1")
    second = _rpc_login(stub, "g1@example.com", "agent-2")
    stranger = _rpc_login(stub, "g2@example.com")
    listed = stub.ListSessions(pb.ListSessionsRequest(session_token=first)).sessions
    assert [(s.user_agent, s.current) for s in listed] == [("agent-2", False), ("agent-1", True)]
    assert all(s.last_seen_at.seconds and s.expires_at.seconds for s in listed)

    with pytest.raises(grpc.RpcError) as foreign:
        stub.RevokeSessionById(
            pb.RevokeSessionByIdRequest(session_token=stranger, session_id=listed[0].id)
        )
    assert_rpc_error(foreign, grpc.StatusCode.NOT_FOUND)
    with pytest.raises(grpc.RpcError) as missing_id:
        stub.RevokeSessionById(pb.RevokeSessionByIdRequest(session_token=first))
    assert_rpc_error(missing_id, grpc.StatusCode.INVALID_ARGUMENT)
    with pytest.raises(grpc.RpcError) as bad_token:
        stub.ListSessions(pb.ListSessionsRequest(session_token="nope"))
    assert_rpc_error(bad_token, grpc.StatusCode.UNAUTHENTICATED)

    done = stub.RevokeOtherSessions(pb.RevokeOtherSessionsRequest(session_token=first))
    assert done.revoked_count == 1
    with pytest.raises(grpc.RpcError) as gone:
        stub.ValidateSession(pb.ValidateSessionRequest(session_token=second))
    assert_rpc_error(gone, grpc.StatusCode.UNAUTHENTICATED)
    own = stub.RevokeSessionById(
        pb.RevokeSessionByIdRequest(session_token=first, session_id=listed[1].id)
    )
    assert own.current is True


def test_admin_rpcs_over_grpc(
    stub: pb_grpc.UserServiceStub, make_user: MakeUser, deps: Deps
) -> None:
    make_user(email="ga@example.com")
    admin.grant_admin(deps, "ga@example.com")
    make_user(email="gn@example.com")
    target = make_user(email="gt@example.com")
    boss = _rpc_login(stub, "ga@example.com")
    normal = _rpc_login(stub, "gn@example.com")
    me = stub.ValidateSession(pb.ValidateSessionRequest(session_token=boss)).user
    assert me.admin is True

    calls = [
        (stub.DeactivateUser, pb.DeactivateUserRequest),
        (stub.ReactivateUser, pb.ReactivateUserRequest),
        (stub.AdminDeleteUser, pb.AdminDeleteUserRequest),
    ]
    for method, request in calls:
        with pytest.raises(grpc.RpcError) as denied:
            method(request(session_token=normal, user_id=target.id))
        assert_rpc_error(denied, grpc.StatusCode.PERMISSION_DENIED)
        with pytest.raises(grpc.RpcError) as anonymous:
            method(request(session_token="forged", user_id=target.id))
        assert_rpc_error(anonymous, grpc.StatusCode.UNAUTHENTICATED)
        with pytest.raises(grpc.RpcError) as own:
            method(request(session_token=boss, user_id=me.id))
        assert_rpc_error(own, grpc.StatusCode.FAILED_PRECONDITION)
        with pytest.raises(grpc.RpcError) as unknown:
            method(request(session_token=boss, user_id=123456789))
        assert_rpc_error(unknown, grpc.StatusCode.NOT_FOUND)

    off = stub.DeactivateUser(pb.DeactivateUserRequest(session_token=boss, user_id=target.id))
    assert off.user.is_active is False
    on = stub.ReactivateUser(pb.ReactivateUserRequest(session_token=boss, user_id=target.id))
    assert on.user.is_active is True
    stub.AdminDeleteUser(pb.AdminDeleteUserRequest(session_token=boss, user_id=target.id))
    with pytest.raises(grpc.RpcError) as deleted:
        stub.GetUser(pb.GetUserRequest(id=target.id))
    assert_rpc_error(deleted, grpc.StatusCode.NOT_FOUND)


def test_idempotency_levels_of_the_new_rpcs() -> None:
    levels = {m.name: m.GetOptions().idempotency_level for m in SERVICE.methods}
    assert levels["ListSessions"] == MethodOptions.NO_SIDE_EFFECTS
    assert levels["RevokeSessionById"] == MethodOptions.IDEMPOTENCY_UNKNOWN  # NOT_FOUND on repeat
    for name in ("RevokeOtherSessions", "DeactivateUser", "ReactivateUser", "AdminDeleteUser"):
        assert levels[name] == MethodOptions.IDEMPOTENT, name
