"""Abuse limits: login throttling a stranger cannot turn into a lockout, signup and password-change
throttles, and the password hasher's bounded wait; through the service and through gRPC."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import grpc
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from support import DEFAULT_PASSWORD, TEST_CONFIG, FixedClock, MakeUser

from alvin_grpc.client import create_channel
from alvin_grpc.errors import rpc_status_of, unpack_details
from alvin_grpc.server import ServerSettings
from alvin_grpc.testing import assert_rpc_error
from alvin_protos.alvin.user.v1 import user_service_pb2 as pb
from alvin_protos.alvin.user.v1 import user_service_pb2_grpc as pb_grpc
from alvin_python_lib.errors import InvalidArgument, ResourceExhausted, Unauthenticated
from user_service.app.server import registration
from user_service.db.models import AuthThrottle, OutboxMessage, User
from user_service.service import abuse, auth
from user_service.service.config import AbuseLimits, HasherBusy, ServiceConfig, make_hasher
from user_service.service.deps import Deps

TOKEN = "test-service-token"
WRONG = "wrong password!"  # pragma: allowlist secret (a test password)
LIMITS = AbuseLimits(
    login_base_delay=timedelta(seconds=1),
    login_max_delay=timedelta(minutes=15),
    login_free_failures_per_account=6,
    login_max_account_delay=timedelta(seconds=8),
    signup_window=timedelta(hours=1),
    signup_max_per_ip=2,
    signup_max_global=4,
    change_password_max_failures=2,
)
# pair: 3 free failures (throttle_max_failures_per_email); address: 20 per window (hard)
CONFIG = replace(TEST_CONFIG, limits=LIMITS, throttle_max_failures_per_ip=20)


@pytest.fixture
def service_config() -> ServiceConfig:
    return CONFIG


def _login(deps: Deps, email: str, password: str, ip: str) -> auth.LoginResult:
    return auth.authenticate(deps, email=email, password=password, client_ip=ip)


def _fail_until_refused(deps: Deps, email: str, ip: str, limit: int = 50) -> int:
    """Wrong passwords from ``ip`` until the throttle refuses; returns how many were checked."""
    for checked in range(limit):
        try:
            _login(deps, email, WRONG, ip)
        except Unauthenticated:
            continue
        except ResourceExhausted:
            return checked
    raise AssertionError("never throttled")


# ---------------------------------------------------------------------------------- login


def test_a_stranger_elsewhere_cannot_lock_the_owner_out(
    db: Session, make_user: MakeUser, deps: Deps
) -> None:
    make_user(email="owner@example.com")
    assert _fail_until_refused(deps, "owner@example.com", "203.0.113.7") == 3
    # the stranger is slowed down; the owner, from their own address, is not
    assert _login(deps, "owner@example.com", DEFAULT_PASSWORD, "198.51.100.1")


def test_failures_from_one_address_get_growing_delays_not_a_lock(
    db: Session, make_user: MakeUser, deps: Deps, clock: FixedClock
) -> None:
    # the account's own ceiling out of the way: this is about one (account, address) pair
    deps = replace(
        deps, config=replace(CONFIG, limits=replace(LIMITS, login_free_failures_per_account=50))
    )
    make_user(email="slow@example.com")
    assert _fail_until_refused(deps, "slow@example.com", "203.0.113.8") == 3
    delays = []
    for _ in range(3):
        with pytest.raises(ResourceExhausted) as refused:
            _login(deps, "slow@example.com", DEFAULT_PASSWORD, "203.0.113.8")
        assert refused.value.retry_after is not None
        delays.append(refused.value.retry_after)
        clock.advance(timedelta(seconds=refused.value.retry_after))
        with pytest.raises(Unauthenticated):  # allowed again once the delay passed, and counted
            _login(deps, "slow@example.com", WRONG, "203.0.113.8")
    assert delays == [1.0, 2.0, 4.0]
    clock.advance(timedelta(seconds=8))
    assert _login(deps, "slow@example.com", DEFAULT_PASSWORD, "203.0.113.8")  # and it resets
    with pytest.raises(Unauthenticated):
        _login(deps, "slow@example.com", WRONG, "203.0.113.8")


def test_the_account_ceiling_spaces_attempts_by_short_delays(
    db: Session, make_user: MakeUser, deps: Deps, clock: FixedClock
) -> None:
    make_user(email="target@example.com")
    # a distributed guesser: 2 failures from each of many addresses, past the account ceiling (6)
    for n in range(3):
        for _ in range(2):
            with pytest.raises(Unauthenticated):
                _login(deps, "target@example.com", WRONG, f"192.0.2.{n}")
    with pytest.raises(ResourceExhausted) as spaced:  # the 7th failure must wait
        _login(deps, "target@example.com", WRONG, "192.0.2.99")
    assert spaced.value.retry_after == 1.0
    with pytest.raises(ResourceExhausted) as owner_waits:
        _login(deps, "target@example.com", DEFAULT_PASSWORD, "198.51.100.2")
    assert owner_waits.value.retry_after is not None
    assert owner_waits.value.retry_after <= LIMITS.login_max_account_delay.total_seconds()
    clock.advance(timedelta(seconds=owner_waits.value.retry_after))
    assert _login(deps, "target@example.com", DEFAULT_PASSWORD, "198.51.100.2")


def test_the_account_delay_never_grows_past_its_cap(
    db: Session, make_user: MakeUser, deps: Deps, clock: FixedClock
) -> None:
    make_user(email="capped@example.com")
    waits: list[float] = []
    for n in range(40):
        try:
            _login(deps, "capped@example.com", WRONG, f"192.0.2.{n}")
        except Unauthenticated:
            continue
        except ResourceExhausted as refused:
            waits.append(refused.retry_after or 0.0)
            clock.advance(timedelta(seconds=refused.retry_after or 0.0))
    assert max(waits) == LIMITS.login_max_account_delay.total_seconds()
    clock.advance(LIMITS.login_max_account_delay)
    assert _login(deps, "capped@example.com", DEFAULT_PASSWORD, "198.51.100.3")


# --------------------------------------------------------------------------------- signup


def _signup(deps: Deps, email: str, ip: str) -> Any:
    return abuse.signup(
        deps, client_ip=ip, email=email, password=DEFAULT_PASSWORD, display_name="Signup"
    )


def test_signups_are_throttled_per_address_and_in_all(
    db: Session, deps: Deps, clock: FixedClock
) -> None:
    _signup(deps, "s1@example.com", "203.0.113.1")
    _signup(deps, "s2@example.com", "203.0.113.1")
    with pytest.raises(ResourceExhausted) as per_address:
        _signup(deps, "s3@example.com", "203.0.113.1")
    assert per_address.value.retry_after == LIMITS.signup_window.total_seconds()
    _signup(deps, "s4@example.com", "203.0.113.2")
    _signup(deps, "s5@example.com", "203.0.113.3")
    with pytest.raises(ResourceExhausted):  # the global limit (4), from a fresh address
        _signup(deps, "s6@example.com", "203.0.113.4")
    emails = set(db.scalars(select(User.email).where(User.email.like("s_@example.com"))))
    assert "s3@example.com" not in emails
    assert "s6@example.com" not in emails  # a refused signup writes nothing
    clock.advance(LIMITS.signup_window)
    _signup(deps, "s7@example.com", "203.0.113.1")


# ------------------------------------------------------------------------- change password


def test_wrong_current_passwords_are_throttled_per_user(
    db: Session, make_user: MakeUser, deps: Deps
) -> None:
    user = make_user(email="pw@example.com")

    def change(current: str, new: str = "a new passphrase") -> None:
        abuse.change_password(deps, user_id=user.id, current_password=current, new_password=new)

    with pytest.raises(InvalidArgument):  # a weak new password does not count
        change(DEFAULT_PASSWORD, "short")
    for _ in range(2):
        with pytest.raises(InvalidArgument):
            change(WRONG)
    with pytest.raises(ResourceExhausted):
        change(DEFAULT_PASSWORD)  # refused before the password is checked
    assert _login(deps, "pw@example.com", DEFAULT_PASSWORD, "")  # the password did not change


def test_wrong_passwords_in_email_changes_are_throttled_with_password_changes(
    db: Session, make_user: MakeUser, deps: Deps
) -> None:
    # A stolen session without the password must not guess it through the email change form,
    # nor get a fresh budget there after using up the password change's.
    user = make_user(email="mail@example.com")

    def move(current: str, new_email: str = "moved@example.com") -> None:
        abuse.request_email_change(
            deps, user_id=user.id, new_email=new_email, current_password=current
        )

    with pytest.raises(InvalidArgument):  # an invalid new address does not count
        move(DEFAULT_PASSWORD, "not an email")
    move(DEFAULT_PASSWORD)  # a success clears the count
    with pytest.raises(InvalidArgument) as wrong:
        move(WRONG)
    assert [v.field for v in wrong.value.violations] == ["current_password"]
    with pytest.raises(InvalidArgument):
        abuse.change_password(
            deps, user_id=user.id, current_password=WRONG, new_password="a new passphrase"
        )
    queued = db.scalar(select(func.count()).select_from(OutboxMessage))
    with pytest.raises(ResourceExhausted) as refused:
        move(DEFAULT_PASSWORD, "other@example.com")  # refused before the password is checked
    assert refused.value.retry_after is not None
    assert refused.value.retry_after > 0
    with pytest.raises(ResourceExhausted):
        abuse.change_password(
            deps, user_id=user.id, current_password=DEFAULT_PASSWORD, new_password="a passphrase"
        )
    assert db.scalar(select(func.count()).select_from(OutboxMessage)) == queued


# ------------------------------------------------------------------------------ the hasher


def test_the_hasher_waits_a_bounded_time_for_a_slot() -> None:
    hasher = make_hasher(1, 8, 1, max_concurrent=1, max_wait=0.2)
    stored = hasher.hash("correct horse")
    assert hasher._slots.acquire(timeout=1)  # another caller holds the only slot
    try:
        with pytest.raises(HasherBusy) as busy:
            hasher.verify(stored, "correct horse")
        assert busy.value.retry_after == 1.0
        with pytest.raises(HasherBusy):
            hasher.hash("another")
    finally:
        hasher._slots.release()
    assert hasher.verify(stored, "correct horse")  # the slot is back


# ----------------------------------------------------------------------------------- gRPC


BUSY_HASHER = make_hasher(1, 8, 1, max_concurrent=1, max_wait=0.1)


@pytest.fixture
def stub(
    db: Session, grpc_server_factory: Callable[..., Any], deps: Deps
) -> Iterator[pb_grpc.UserServiceStub]:
    settings = ServerSettings(grpc_service_token=SecretStr(TOKEN), grpc_grace_period_s=0)
    server, _ = grpc_server_factory([registration(deps)], settings, database=deps.database)
    channel = create_channel(str(server.address), token=TOKEN, default_timeout=10)
    yield pb_grpc.UserServiceStub(channel)
    channel.close()


def _retry_seconds(info: pytest.ExceptionInfo[grpc.RpcError]) -> float:
    _, _, retry = unpack_details(rpc_status_of(info.value))
    assert retry is not None
    return float(retry.retry_delay.seconds + retry.retry_delay.nanos / 1e9)


def test_throttles_answer_resource_exhausted_with_retry_info(
    stub: pb_grpc.UserServiceStub, make_user: MakeUser
) -> None:
    user_id = make_user(email="gp@example.com").id
    for n in range(2):
        stub.CreateUser(
            pb.CreateUserRequest(
                email=f"g{n}@example.com",
                password=DEFAULT_PASSWORD,
                display_name="G",
                client_ip="203.0.113.50",
            )
        )
    with pytest.raises(grpc.RpcError) as signup:
        stub.CreateUser(
            pb.CreateUserRequest(
                email="g9@example.com",
                password=DEFAULT_PASSWORD,
                display_name="G",
                client_ip="203.0.113.50",
            )
        )
    assert_rpc_error(signup, grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert _retry_seconds(signup) > 0

    for _ in range(2):
        with pytest.raises(grpc.RpcError):
            stub.ChangePassword(
                pb.ChangePasswordRequest(
                    user_id=user_id, current_password=WRONG, new_password="a new passphrase"
                )
            )
    with pytest.raises(grpc.RpcError) as change:
        stub.ChangePassword(
            pb.ChangePasswordRequest(
                user_id=user_id, current_password=DEFAULT_PASSWORD, new_password="a new passphrase"
            )
        )
    assert_rpc_error(change, grpc.StatusCode.RESOURCE_EXHAUSTED)
    with pytest.raises(grpc.RpcError) as move:
        stub.RequestEmailChange(
            pb.RequestEmailChangeRequest(
                user_id=user_id, new_email="gq@example.com", current_password=DEFAULT_PASSWORD
            )
        )
    assert_rpc_error(move, grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert _retry_seconds(move) > 0

    for _ in range(3):
        with pytest.raises(grpc.RpcError):
            stub.Authenticate(
                pb.AuthenticateRequest(email="gp@example.com", password=WRONG, client_ip="1.2.3.4")
            )
    with pytest.raises(grpc.RpcError) as login:
        stub.Authenticate(
            pb.AuthenticateRequest(
                email="gp@example.com", password=DEFAULT_PASSWORD, client_ip="1.2.3.4"
            )
        )
    assert_rpc_error(login, grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert _retry_seconds(login) == 1.0
    ok = stub.Authenticate(
        pb.AuthenticateRequest(
            email="gp@example.com", password=DEFAULT_PASSWORD, client_ip="5.6.7.8"
        )
    )
    assert ok.session_token


@pytest.mark.parametrize("service_config", [replace(CONFIG, hasher=BUSY_HASHER)])
def test_a_busy_hasher_answers_resource_exhausted_and_writes_nothing(
    stub: pb_grpc.UserServiceStub, db: Session
) -> None:
    assert BUSY_HASHER._slots.acquire(timeout=1)
    try:
        with pytest.raises(grpc.RpcError) as busy:
            stub.CreateUser(
                pb.CreateUserRequest(
                    email="busy@example.com", password=DEFAULT_PASSWORD, display_name="B"
                )
            )
        assert_rpc_error(busy, grpc.StatusCode.RESOURCE_EXHAUSTED, details="busy")
        assert _retry_seconds(busy) == 1.0
        with pytest.raises(grpc.RpcError) as login:
            stub.Authenticate(pb.AuthenticateRequest(email="busy@example.com", password="x" * 12))
        assert_rpc_error(login, grpc.StatusCode.RESOURCE_EXHAUSTED, details="busy")
    finally:
        BUSY_HASHER._slots.release()
    count = db.scalar(
        select(func.count()).select_from(User).where(User.email == "busy@example.com")
    )
    assert count == 0


@pytest.mark.parametrize("service_config", [replace(CONFIG, hasher=BUSY_HASHER)])
def test_a_busy_hasher_counts_no_failure(db: Session, make_user: MakeUser, deps: Deps) -> None:
    user_id = make_user(email="busy2@example.com").id
    assert BUSY_HASHER._slots.acquire(timeout=1)
    try:
        for _ in range(5):  # more than the free failures: none of them may count
            with pytest.raises(HasherBusy):
                _login(deps, "busy2@example.com", DEFAULT_PASSWORD, "203.0.113.90")
            with pytest.raises(HasherBusy):
                abuse.change_password(
                    deps, user_id=user_id, current_password=WRONG, new_password="a new passphrase"
                )
            with pytest.raises(HasherBusy):
                abuse.request_email_change(
                    deps, user_id=user_id, new_email="b@example.com", current_password=WRONG
                )
    finally:
        BUSY_HASHER._slots.release()
    assert set(db.scalars(select(AuthThrottle.failures))) <= {0}
    assert _login(deps, "busy2@example.com", DEFAULT_PASSWORD, "203.0.113.90")
