from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any, Literal

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session
from support import DEFAULT_PASSWORD, TEST_CONFIG, FixedClock, MakeUser

from alvin_python_lib.errors import InvalidArgument, ResourceExhausted, Unauthenticated
from user_service.db.models import User, UserSession
from user_service.service import auth, users
from user_service.service.config import ServiceConfig, make_hasher
from user_service.service.deps import Deps


def test_login_returns_a_256_bit_token_and_stores_only_its_hash(
    db: Session, make_user: MakeUser, deps: Deps
) -> None:
    user = make_user(email="a@example.com")
    result = auth.authenticate(
        deps,
        email="A@example.com",
        password=DEFAULT_PASSWORD,
        user_agent="pytest",
        client_ip="10.0.0.1",
    )
    assert result.user.id == user.id
    assert len(result.token) >= 43  # 32 random bytes, base64url
    (stored,) = db.scalars(select(UserSession)).all()
    assert stored.token_hash == auth.hash_token(result.token)
    assert result.token.encode() not in stored.token_hash
    assert (stored.user_agent, stored.client_ip) == ("pytest", "10.0.0.1")
    assert db.get(User, user.id).last_login_at is not None  # type: ignore[union-attr]


def test_wrong_password_unknown_email_and_inactive_user_get_the_same_error(
    db: Session, make_user: MakeUser, deps: Deps
) -> None:
    user = make_user(email="b@example.com")
    messages = set()
    for email, password in [
        ("b@example.com", "wrong password!"),
        ("nobody@example.com", DEFAULT_PASSWORD),
    ]:
        with pytest.raises(Unauthenticated) as info:
            auth.authenticate(deps, email=email, password=password)
        messages.add(info.value.message)
    user.is_active = False
    db.merge(user)
    db.commit()
    with pytest.raises(Unauthenticated) as info:
        auth.authenticate(deps, email="b@example.com", password=DEFAULT_PASSWORD)
    messages.add(info.value.message)
    assert messages == {auth.INVALID_CREDENTIALS}


class CountingHasher(PasswordHasher):
    """A real argon2 hasher that records the parameters of every hash it verifies."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.verified: list[str] = []

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        text = hash if isinstance(hash, str) else hash.decode()
        self.verified.append(text.split("$")[3])  # "m=...,t=...,p=..."
        return super().verify(hash, password)


COUNTING_HASHER = CountingHasher(time_cost=2, memory_cost=64, parallelism=1)


@pytest.mark.parametrize(
    "service_config", [ServiceConfig(hasher=COUNTING_HASHER, throttle_max_failures_per_email=100)]
)
def test_unknown_email_does_the_same_argon2_work(
    db: Session, make_user: MakeUser, deps: Deps
) -> None:
    # Same work on both paths is what keeps their timing alike; it is asserted exactly here
    # (timing itself is too noisy for a unit test on a shared machine).
    hasher = COUNTING_HASHER
    make_user(email="timing@example.com")
    for email in ("timing@example.com", "nobody@example.com"):
        hasher.verified.clear()
        with pytest.raises(Unauthenticated):
            auth.authenticate(deps, email=email, password="wrong password!")
        assert hasher.verified == ["m=64,t=2,p=1"], email


def test_failed_logins_are_throttled_per_email(
    db: Session, make_user: MakeUser, deps: Deps
) -> None:
    make_user(email="c@example.com")
    for _ in range(3):
        with pytest.raises(Unauthenticated):
            auth.authenticate(deps, email="c@example.com", password="wrong password!")
    with pytest.raises(ResourceExhausted) as info:
        auth.authenticate(deps, email="c@example.com", password=DEFAULT_PASSWORD)
    assert info.value.retry_after is not None
    assert 0 < info.value.retry_after <= 15 * 60


def test_failed_logins_are_throttled_per_client_address(
    db: Session, make_user: MakeUser, deps: Deps
) -> None:
    make_user(email="d@example.com")
    for i in range(5):
        with pytest.raises(Unauthenticated):
            auth.authenticate(
                deps, email=f"probe{i}@example.com", password="x" * 12, client_ip="1.2.3.4"
            )
    with pytest.raises(ResourceExhausted):
        auth.authenticate(
            deps, email="d@example.com", password=DEFAULT_PASSWORD, client_ip="1.2.3.4"
        )
    # another address is not affected
    assert auth.authenticate(
        deps, email="d@example.com", password=DEFAULT_PASSWORD, client_ip="5.6.7.8"
    )


def test_success_resets_the_email_counter(db: Session, make_user: MakeUser, deps: Deps) -> None:
    make_user(email="e@example.com")
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            auth.authenticate(deps, email="e@example.com", password="wrong password!")
    auth.authenticate(deps, email="e@example.com", password=DEFAULT_PASSWORD)
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            auth.authenticate(deps, email="e@example.com", password="wrong password!")
    assert auth.authenticate(deps, email="e@example.com", password=DEFAULT_PASSWORD)


def test_successful_logins_do_not_count_against_the_address(
    db: Session, make_user: MakeUser, deps: Deps
) -> None:
    make_user(email="g@example.com")
    for _ in range(TEST_CONFIG.throttle_max_failures_per_ip + 1):
        assert auth.authenticate(
            deps, email="g@example.com", password=DEFAULT_PASSWORD, client_ip="9.9.9.9"
        )


def test_rehash_when_parameters_change(db: Session, make_user: MakeUser, deps: Deps) -> None:
    user = make_user(email="f@example.com")
    old_hash = user.password_hash
    stronger = ServiceConfig(hasher=make_hasher(time_cost=2, memory_cost_kib=16, parallelism=1))
    auth.authenticate(
        replace(deps, config=stronger), email="f@example.com", password=DEFAULT_PASSWORD
    )
    new_hash = db.scalar(select(User.password_hash).where(User.id == user.id))
    assert new_hash != old_hash
    assert "t=2" in new_hash  # type: ignore[operator]


def test_validate_revoke_and_expiry(
    db: Session, make_user: MakeUser, deps: Deps, clock: FixedClock
) -> None:
    user = make_user(email="g@example.com")
    login = auth.authenticate(deps, email="g@example.com", password=DEFAULT_PASSWORD)
    info = auth.validate_session(deps, login.token)
    assert info.user.id == user.id
    auth.revoke_session(deps, login.token)
    auth.revoke_session(deps, login.token)  # idempotent
    auth.revoke_session(deps, "never-issued")
    with pytest.raises(Unauthenticated):
        auth.validate_session(deps, login.token)

    other = auth.authenticate(deps, email="g@example.com", password=DEFAULT_PASSWORD)
    clock.advance(TEST_CONFIG.session_ttl - timedelta(seconds=1))
    assert auth.validate_session(deps, other.token)
    clock.advance(timedelta(seconds=1))  # the session's last instant has passed
    with pytest.raises(Unauthenticated):
        auth.validate_session(deps, other.token)
    with pytest.raises(InvalidArgument):
        auth.validate_session(deps, "")


def test_sliding_expiry_extends_on_refresh(
    db: Session, make_user: MakeUser, deps: Deps, clock: FixedClock
) -> None:
    make_user(email="h@example.com")
    login = auth.authenticate(deps, email="h@example.com", password=DEFAULT_PASSWORD)
    assert login.expires_at == clock() + TEST_CONFIG.session_ttl
    clock.advance(timedelta(minutes=20))  # more than half the 1 h TTL left: no refresh yet
    assert auth.validate_session(deps, login.token, refresh=True).expires_at == login.expires_at
    clock.advance(timedelta(minutes=35))  # 5 minutes left
    assert auth.validate_session(deps, login.token).expires_at == login.expires_at
    refreshed = auth.validate_session(deps, login.token, refresh=True)
    assert refreshed.expires_at == clock() + TEST_CONFIG.session_ttl


def test_password_change_checks_current_and_revokes_every_session(
    db: Session, make_user: MakeUser, deps: Deps
) -> None:
    user = make_user(email="i@example.com")
    first = auth.authenticate(deps, email="i@example.com", password=DEFAULT_PASSWORD)
    second = auth.authenticate(deps, email="i@example.com", password=DEFAULT_PASSWORD)
    with pytest.raises(InvalidArgument) as info:
        auth.change_password(
            deps,
            user_id=user.id,
            current_password="wrong password!",
            new_password="a new passphrase",
        )
    assert info.value.violations[0].field == "current_password"
    with pytest.raises(InvalidArgument) as weak:
        auth.change_password(
            deps, user_id=user.id, current_password=DEFAULT_PASSWORD, new_password="short"
        )
    assert weak.value.violations[0].field == "new_password"
    with pytest.raises(InvalidArgument) as common:
        auth.change_password(
            deps, user_id=user.id, current_password=DEFAULT_PASSWORD, new_password="wethepeople"
        )
    assert (common.value.violations[0].field, common.value.violations[0].description) == (
        "new_password",
        "is too common",
    )
    auth.validate_session(deps, first.token)  # failed attempts changed nothing

    auth.change_password(
        deps, user_id=user.id, current_password=DEFAULT_PASSWORD, new_password="a new passphrase"
    )
    for token in (first.token, second.token):
        with pytest.raises(Unauthenticated):
            auth.validate_session(deps, token)
    with pytest.raises(Unauthenticated):
        auth.authenticate(deps, email="i@example.com", password=DEFAULT_PASSWORD)
    assert auth.authenticate(deps, email="i@example.com", password="a new passphrase")


def test_deleting_a_user_revokes_its_sessions(db: Session, make_user: MakeUser, deps: Deps) -> None:
    user = make_user(email="j@example.com")
    login = auth.authenticate(deps, email="j@example.com", password=DEFAULT_PASSWORD)
    users.delete_user(deps, user.id)
    with pytest.raises(Unauthenticated):
        auth.validate_session(deps, login.token)


def test_purge_removes_ended_sessions_only(
    db: Session, make_user: MakeUser, deps: Deps, clock: FixedClock
) -> None:
    make_user(email="k@example.com")
    auth.authenticate(deps, email="k@example.com", password=DEFAULT_PASSWORD)
    clock.advance(timedelta(days=2))  # the first session ended more than a day ago
    live = auth.authenticate(deps, email="k@example.com", password=DEFAULT_PASSWORD)
    assert auth.purge_expired_sessions(deps) == 1
    assert auth.validate_session(deps, live.token)
