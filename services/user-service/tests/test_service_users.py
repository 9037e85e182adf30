from __future__ import annotations

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session
from support import DEFAULT_PASSWORD, MakeUser

from alvin_python_lib import ids
from alvin_python_lib.errors import AlreadyExists, InvalidArgument, NotFound
from user_service.db.models import OutboxMessage, User
from user_service.service import users
from user_service.service.account_mail import ACCOUNT_EMAIL_TOPIC
from user_service.service.deps import Deps
from user_service.service.validation import password_violations


def _fields(error: InvalidArgument) -> set[str]:
    return {v.field for v in error.violations}


def test_signup_normalises_hashes_and_queues_the_welcome_email(db: Session, deps: Deps) -> None:
    user = users.signup(
        deps, email="  Alice@Example.COM ", password=DEFAULT_PASSWORD, display_name="  Alice "
    )
    assert user.email == "alice@example.com"
    assert user.display_name == "Alice"
    assert user.password_hash.startswith("$argon2id$")
    assert DEFAULT_PASSWORD not in user.password_hash
    assert ids.decode(user.id).worker_id < 1023
    welcome, verify = db.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert welcome.topic == users.WELCOME_EMAIL_TOPIC
    assert welcome.payload == {"user_id": user.id}
    assert verify.topic == ACCOUNT_EMAIL_TOPIC
    assert verify.payload == {"kind": "verify", "user_id": user.id}


def test_signup_reports_every_bad_field_and_writes_nothing(db: Session, deps: Deps) -> None:
    with pytest.raises(InvalidArgument) as info:
        users.signup(deps, email="not-an-email", password="short", display_name="   ")
    assert _fields(info.value) == {"email", "password", "display_name"}
    assert db.scalar(select(func.count()).select_from(User)) == 0
    assert db.scalar(select(func.count()).select_from(OutboxMessage)) == 0


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("x" * 9, "at least 10"),
        ("x" * 257, "at most 256"),
        ("bob@example.com", "email"),
        ("Password123", "too common"),
    ],
)
def test_password_policy(db: Session, password: str, reason: str, deps: Deps) -> None:
    with pytest.raises(InvalidArgument) as info:
        users.signup(deps, email="bob@example.com", password=password, display_name="Bob")
    (violation,) = info.value.violations
    assert violation.field == "password"
    assert reason in violation.description


@pytest.mark.parametrize(
    "password",
    [
        "wethepeople",  # entry 29,384 of the 30,000 common passwords
        "WeThePeople",  # case does not matter
        "wethepeople2026!",  # nor digits and symbols appended
    ],
)
def test_a_password_deep_in_the_common_list_is_refused(
    db: Session, password: str, deps: Deps
) -> None:
    with pytest.raises(InvalidArgument) as info:
        users.signup(deps, email="deep@example.com", password=password, display_name="Deep")
    (violation,) = info.value.violations
    assert (violation.field, violation.description) == ("password", "is too common")


def test_a_strong_password_passes_the_common_list(db: Session, deps: Deps) -> None:
    for password in ("wethepeople of 1787", "plover quasar tundra 9", DEFAULT_PASSWORD):
        assert password_violations(password, "strong@example.com") == []


def test_display_name_limits(db: Session, deps: Deps) -> None:
    with pytest.raises(InvalidArgument, match="at most 100"):
        users.signup(deps, email="c@example.com", password=DEFAULT_PASSWORD, display_name="n" * 101)
    with pytest.raises(InvalidArgument, match="control characters"):
        users.signup(deps, email="c@example.com", password=DEFAULT_PASSWORD, display_name="a\x00b")


def test_duplicate_email_is_already_exists_on_email_and_leaves_one_row(
    db: Session, make_user: MakeUser
) -> None:
    make_user(email="dup@example.com")
    with pytest.raises(AlreadyExists) as info:
        make_user(email="DUP@example.com ")
    assert info.value.field == "email"
    assert db.scalar(select(func.count()).select_from(User)) == 1
    assert db.scalar(select(func.count()).select_from(OutboxMessage)) == 2  # the first's two


def test_inviter_must_exist(db: Session, make_user: MakeUser) -> None:
    inviter = make_user()
    invited = make_user(invited_by_id=inviter.id)
    assert invited.invited_by_id == inviter.id
    with pytest.raises(InvalidArgument) as info:
        make_user(invited_by_id=123456789)
    assert _fields(info.value) == {"invited_by_id"}


def test_get_user_and_not_found(db: Session, make_user: MakeUser, deps: Deps) -> None:
    user = make_user()
    assert users.get_user(deps, user.id).email == user.email
    with pytest.raises(NotFound):
        users.get_user(deps, user.id + 1)


def test_batch_keeps_order_reports_missing_and_caps_size(
    db: Session, make_user: MakeUser, deps: Deps
) -> None:
    a, b, c = make_user(), make_user(), make_user()
    users.delete_user(deps, b.id)
    result = users.batch_get_users(deps, [c.id, 999, a.id, b.id, c.id, 999])
    assert [u.id for u in result.users] == [c.id, a.id]
    assert result.missing_ids == [999, b.id]
    with pytest.raises(InvalidArgument) as info:
        users.batch_get_users(deps, list(range(501)))
    assert _fields(info.value) == {"ids"}


def test_list_users_pages_by_id_with_opaque_tokens(
    db: Session, make_user: MakeUser, deps: Deps
) -> None:
    made = [make_user().id for _ in range(5)]
    seen: list[int] = []
    token = ""
    pages = 0
    while True:
        page = users.list_users(deps, page_size=2, page_token=token)
        seen += [u.id for u in page.users]
        pages += 1
        if not page.next_page_token:
            break
        assert str(made[0]) not in page.next_page_token  # opaque, not a raw id
        token = page.next_page_token
    assert seen == sorted(made)
    assert pages == 3


@pytest.mark.parametrize(
    ("size", "token", "field"),
    [(-1, "", "page_size"), (10, "garbage!", "page_token"), (10, "djE6YWJj", "page_token")],
)
def test_list_users_rejects_bad_paging(
    db: Session, size: int, token: str, field: str, deps: Deps
) -> None:
    with pytest.raises(InvalidArgument) as info:
        users.list_users(deps, page_size=size, page_token=token)
    assert _fields(info.value) == {field}


def test_page_size_is_capped(db: Session, deps: Deps) -> None:
    db.execute(
        insert(User),
        [
            {"email": f"bulk{n}@example.com", "display_name": f"Bulk {n}", "password_hash": "x"}
            for n in range(users.MAX_PAGE_SIZE + 5)
        ],
    )
    db.commit()
    assert len(users.list_users(deps, page_size=10_000).users) == users.MAX_PAGE_SIZE
    assert len(users.list_users(deps, page_size=0).users) == users.DEFAULT_PAGE_SIZE


def test_update_user_with_field_mask(db: Session, make_user: MakeUser, deps: Deps) -> None:
    user = make_user(display_name="Old")
    updated = users.update_user(
        deps, user.id, paths=["display_name"], display_name="New", email="ignored@example.com"
    )
    assert (updated.display_name, updated.email) == ("New", user.email)
    with pytest.raises(InvalidArgument, match="update_mask"):
        users.update_user(deps, user.id, paths=["password_hash"], display_name="", email="")
    with pytest.raises(InvalidArgument, match="update_mask"):
        users.update_user(deps, user.id, paths=[], display_name="", email="")


def test_deactivation_revokes_sessions_and_blocks_login(
    db: Session, make_user: MakeUser, deps: Deps
) -> None:
    from alvin_python_lib.errors import Unauthenticated
    from user_service.service import auth

    user = make_user(email="deact@example.com")
    login = auth.authenticate(deps, email="deact@example.com", password=DEFAULT_PASSWORD)
    updated = users.update_user(deps, user.id, paths=["is_active"], is_active=False)
    assert updated.is_active is False
    with pytest.raises(Unauthenticated):
        auth.validate_session(deps, login.token)
    with pytest.raises(Unauthenticated):
        auth.authenticate(deps, email="deact@example.com", password=DEFAULT_PASSWORD)


def test_email_change_rechecks_uniqueness(db: Session, make_user: MakeUser, deps: Deps) -> None:
    make_user(email="taken@example.com")
    user = make_user()
    with pytest.raises(AlreadyExists) as info:
        users.update_user(
            deps, user.id, paths=["email"], display_name="", email="Taken@example.com"
        )
    assert info.value.field == "email"
    db.expire_all()
    assert db.get(User, user.id).email != "taken@example.com"  # type: ignore[union-attr]


def test_delete_is_soft_and_frees_the_email(db: Session, make_user: MakeUser, deps: Deps) -> None:
    user = make_user(email="gone@example.com")
    users.delete_user(deps, user.id)
    with pytest.raises(NotFound):
        users.get_user(deps, user.id)
    with pytest.raises(NotFound):
        users.delete_user(deps, user.id)
    assert db.get(User, user.id) is not None  # the row is kept
    again = make_user(email="gone@example.com")
    assert again.id != user.id
