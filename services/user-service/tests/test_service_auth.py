from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session

from alvin_python_lib.db import utcnow
from alvin_python_lib.errors import InvalidArgument, ResourceExhausted, Unauthenticated
from user_service.db.models import User, UserSession
from user_service.service import auth, users
from user_service.service.config import ServiceConfig, configure, make_hasher
from user_service.test.factories import DEFAULT_PASSWORD, make_user


def test_login_returns_a_256_bit_token_and_stores_only_its_hash(db: Session) -> None:
    user = make_user(email="a@example.com")
    result = auth.authenticate(
        email="A@example.com", password=DEFAULT_PASSWORD, user_agent="pytest", client_ip="10.0.0.1"
    )
    assert result.user.id == user.id
    assert len(result.token) >= 43  # 32 random bytes, base64url
    (stored,) = db.scalars(select(UserSession)).all()
    assert stored.token_hash == auth.hash_token(result.token)
    assert result.token.encode() not in stored.token_hash
    assert (stored.user_agent, stored.client_ip) == ("pytest", "10.0.0.1")
    assert db.get(User, user.id).last_login_at is not None  # type: ignore[union-attr]


def test_wrong_password_unknown_email_and_inactive_user_get_the_same_error(db: Session) -> None:
    user = make_user(email="b@example.com")
    messages = set()
    for email, password in [
        ("b@example.com", "wrong password!"),
        ("nobody@example.com", DEFAULT_PASSWORD),
    ]:
        with pytest.raises(Unauthenticated) as info:
            auth.authenticate(email=email, password=password)
        messages.add(info.value.message)
    user.is_active = False
    db.merge(user)
    db.commit()
    with pytest.raises(Unauthenticated) as info:
        auth.authenticate(email="b@example.com", password=DEFAULT_PASSWORD)
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


def test_unknown_email_does_the_same_argon2_work(db: Session) -> None:
    # Same work on both paths is what keeps their timing alike; it is asserted exactly here
    # (timing itself is too noisy for a unit test on a shared machine).
    hasher = CountingHasher(time_cost=2, memory_cost=64, parallelism=1)
    configure(ServiceConfig(hasher=hasher, throttle_max_failures_per_email=100))
    make_user(email="timing@example.com")
    for email in ("timing@example.com", "nobody@example.com"):
        hasher.verified.clear()
        with pytest.raises(Unauthenticated):
            auth.authenticate(email=email, password="wrong password!")
        assert hasher.verified == ["m=64,t=2,p=1"], email


def test_failed_logins_are_throttled_per_email(db: Session) -> None:
    make_user(email="c@example.com")
    for _ in range(3):
        with pytest.raises(Unauthenticated):
            auth.authenticate(email="c@example.com", password="wrong password!")
    with pytest.raises(ResourceExhausted) as info:
        auth.authenticate(email="c@example.com", password=DEFAULT_PASSWORD)
    assert info.value.retry_after is not None
    assert 0 < info.value.retry_after <= 15 * 60


def test_failed_logins_are_throttled_per_client_address(db: Session) -> None:
    make_user(email="d@example.com")
    for i in range(5):
        with pytest.raises(Unauthenticated):
            auth.authenticate(email=f"probe{i}@example.com", password="x" * 12, client_ip="1.2.3.4")
    with pytest.raises(ResourceExhausted):
        auth.authenticate(email="d@example.com", password=DEFAULT_PASSWORD, client_ip="1.2.3.4")
    # another address is not affected
    assert auth.authenticate(email="d@example.com", password=DEFAULT_PASSWORD, client_ip="5.6.7.8")


def test_success_resets_the_email_counter(db: Session) -> None:
    make_user(email="e@example.com")
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            auth.authenticate(email="e@example.com", password="wrong password!")
    auth.authenticate(email="e@example.com", password=DEFAULT_PASSWORD)
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            auth.authenticate(email="e@example.com", password="wrong password!")
    assert auth.authenticate(email="e@example.com", password=DEFAULT_PASSWORD)


def test_rehash_when_parameters_change(db: Session) -> None:
    user = make_user(email="f@example.com")
    old_hash = user.password_hash
    configure(ServiceConfig(hasher=make_hasher(time_cost=2, memory_cost_kib=16, parallelism=1)))
    auth.authenticate(email="f@example.com", password=DEFAULT_PASSWORD)
    new_hash = db.scalar(select(User.password_hash).where(User.id == user.id))
    assert new_hash != old_hash
    assert "t=2" in new_hash  # type: ignore[operator]


def test_validate_revoke_and_expiry(db: Session) -> None:
    user = make_user(email="g@example.com")
    login = auth.authenticate(email="g@example.com", password=DEFAULT_PASSWORD)
    info = auth.validate_session(login.token)
    assert info.user.id == user.id
    auth.revoke_session(login.token)
    auth.revoke_session(login.token)  # idempotent
    auth.revoke_session("never-issued")
    with pytest.raises(Unauthenticated):
        auth.validate_session(login.token)

    other = auth.authenticate(email="g@example.com", password=DEFAULT_PASSWORD)
    stored = db.scalars(select(UserSession).where(UserSession.revoked_at.is_(None))).one()
    stored.expires_at = utcnow() - timedelta(seconds=1)
    db.commit()
    with pytest.raises(Unauthenticated):
        auth.validate_session(other.token)
    with pytest.raises(InvalidArgument):
        auth.validate_session("")


def test_sliding_expiry_extends_on_refresh(db: Session, service_config: ServiceConfig) -> None:
    make_user(email="h@example.com")
    login = auth.authenticate(email="h@example.com", password=DEFAULT_PASSWORD)
    stored = db.scalars(select(UserSession)).one()
    stored.expires_at = utcnow() + timedelta(minutes=5)  # less than half the 1 h TTL left
    db.commit()
    assert auth.validate_session(login.token).expires_at < utcnow() + timedelta(minutes=6)
    refreshed = auth.validate_session(login.token, refresh=True)
    assert refreshed.expires_at > utcnow() + timedelta(minutes=55)


def test_password_change_checks_current_and_revokes_every_session(db: Session) -> None:
    user = make_user(email="i@example.com")
    first = auth.authenticate(email="i@example.com", password=DEFAULT_PASSWORD)
    second = auth.authenticate(email="i@example.com", password=DEFAULT_PASSWORD)
    with pytest.raises(InvalidArgument) as info:
        auth.change_password(
            user_id=user.id, current_password="wrong password!", new_password="a new passphrase"
        )
    assert info.value.violations[0].field == "current_password"
    with pytest.raises(InvalidArgument) as weak:
        auth.change_password(
            user_id=user.id, current_password=DEFAULT_PASSWORD, new_password="short"
        )
    assert weak.value.violations[0].field == "new_password"
    auth.validate_session(first.token)  # failed attempts changed nothing

    auth.change_password(
        user_id=user.id, current_password=DEFAULT_PASSWORD, new_password="a new passphrase"
    )
    for token in (first.token, second.token):
        with pytest.raises(Unauthenticated):
            auth.validate_session(token)
    with pytest.raises(Unauthenticated):
        auth.authenticate(email="i@example.com", password=DEFAULT_PASSWORD)
    assert auth.authenticate(email="i@example.com", password="a new passphrase")


def test_deleting_a_user_revokes_its_sessions(db: Session) -> None:
    user = make_user(email="j@example.com")
    login = auth.authenticate(email="j@example.com", password=DEFAULT_PASSWORD)
    users.delete_user(user.id)
    with pytest.raises(Unauthenticated):
        auth.validate_session(login.token)


def test_purge_removes_ended_sessions_only(db: Session) -> None:
    make_user(email="k@example.com")
    old = auth.authenticate(email="k@example.com", password=DEFAULT_PASSWORD)
    live = auth.authenticate(email="k@example.com", password=DEFAULT_PASSWORD)
    row = db.scalars(
        select(UserSession).where(UserSession.token_hash == auth.hash_token(old.token))
    ).one()
    row.expires_at = utcnow() - timedelta(days=2)
    db.commit()
    assert auth.purge_expired_sessions() == 1
    assert auth.validate_session(live.token)
