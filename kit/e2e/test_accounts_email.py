"""The emailed account flows against the whole stack: GraphQL over HTTP, the links' tokens read
from the emails the SMTP catcher caught (password reset, email verification, email change,
enumeration-safe signup). Nothing of the kit is imported."""

from __future__ import annotations

import re
import uuid
from email.message import Message
from typing import Any

from conftest import Stack
from gql import Client, GraphQLRequest, gql
from gql.transport.requests import RequestsHTTPTransport

PASSWORD = "an e2e password"  # pragma: allowlist secret (a test password)
NEW_PASSWORD = "a brand new e2e passphrase"  # pragma: allowlist secret (a test password)
WRONG = "not the password"  # pragma: allowlist secret (a wrong test password)
SIGNUP = gql(
    "mutation ($i: SignupInput!) { signup(input: $i) { ok errors { field message code } } }"
)
LOGIN = gql("mutation ($i: LoginInput!) { login(input: $i) { token user { id } errors { code } } }")
ME = gql("query { me { id email emailVerified } }")
REQUEST_RESET = gql(
    "mutation ($i: RequestPasswordResetInput!) { requestPasswordReset(input: $i) { ok errors "
    "{ field code } } }"
)
RESET = gql(
    "mutation ($i: ResetPasswordInput!) { resetPassword(input: $i) { ok errors "
    "{ field message code } } }"
)
VERIFY = gql(
    "mutation ($i: VerifyEmailInput!) { verifyEmail(input: $i) { user { email emailVerified } "
    "errors { field message code } } }"
)
CHANGE_EMAIL = gql(
    "mutation ($i: RequestEmailChangeInput!) { requestEmailChange(input: $i) { ok errors "
    "{ field code } } }"
)
TOKEN_IN_LINK = re.compile(r"/(reset-password|verify-email)\?token=([A-Za-z0-9_\-]+)")


def run(stack: Stack, query: Any, variables: dict[str, Any], token: str | None = None) -> Any:
    headers = {"X-Request-ID": uuid.uuid4().hex}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    transport = RequestsHTTPTransport(url=stack.graphql_url, headers=headers, timeout=15)
    with Client(transport=transport, fetch_schema_from_transport=False) as session:
        return session.execute(GraphQLRequest(query, variable_values=variables))


def _address(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}@example.com"


def _token(message: Message, page: str) -> str:
    body = message.get_body(preferencelist=("plain",))  # type: ignore[attr-defined]
    found = TOKEN_IN_LINK.search(body.get_content())
    assert found, body.get_content()
    assert found.group(1) == page
    return found.group(2)


def _login(stack: Stack, email: str, password: str = PASSWORD) -> dict[str, Any]:
    credentials = {"email": email, "password": password, "tokenDelivery": "BEARER"}
    return dict(run(stack, LOGIN, {"i": credentials})["login"])


def _sign_up(stack: Stack, email: str) -> None:
    answer = run(stack, SIGNUP, {"i": {"email": email, "password": PASSWORD, "displayName": "A"}})
    assert answer["signup"] == {"ok": True, "errors": []}


def test_signup_verify_email_then_reset_the_password(stack: Stack) -> None:
    email = _address("e2e-accounts")
    _sign_up(stack, email)
    verify = stack.wait_for_mail(email, subject="Confirm your email address")
    assert verify.get_body(preferencelist=("html",)) is not None  # type: ignore[attr-defined]
    session = _login(stack, email)["token"]
    assert run(stack, ME, {}, session)["me"]["emailVerified"] is False

    verified = run(stack, VERIFY, {"i": {"token": _token(verify, "verify-email")}})
    assert verified["verifyEmail"] == {
        "user": {"email": email, "emailVerified": True},
        "errors": [],
    }
    assert run(stack, ME, {}, session)["me"]["emailVerified"] is True

    assert run(stack, REQUEST_RESET, {"i": {"email": email}})["requestPasswordReset"] == {
        "ok": True,
        "errors": [],
    }
    reset_link = _token(stack.wait_for_mail(email, subject="Reset your password"), "reset-password")
    reset = run(stack, RESET, {"i": {"token": reset_link, "newPassword": NEW_PASSWORD}})
    assert reset["resetPassword"] == {"ok": True, "errors": []}
    stack.wait_for_mail(email, subject="Your password was changed")
    assert run(stack, ME, {}, session)["me"] is None  # every session ended
    assert _login(stack, email)["errors"] == [{"code": "INVALID_CREDENTIALS"}]
    assert _login(stack, email, NEW_PASSWORD)["errors"] == []

    used = run(stack, RESET, {"i": {"token": reset_link, "newPassword": "yet another one 42"}})
    assert used["resetPassword"]["ok"] is False
    assert [e["field"] for e in used["resetPassword"]["errors"]] == ["token"]


def test_duplicate_signup_and_unknown_reset_answer_alike(stack: Stack) -> None:
    email = _address("e2e-dup")
    _sign_up(stack, email)
    _sign_up(stack, email.upper())  # the same answer: the owner is emailed instead
    stack.wait_for_mail(email, subject="Someone tried to sign up with your address")
    known = run(stack, REQUEST_RESET, {"i": {"email": email}})
    unknown = run(stack, REQUEST_RESET, {"i": {"email": _address("e2e-nobody")}})
    assert known == unknown


def test_change_email_after_verifying_the_new_address(stack: Stack) -> None:
    old, new = _address("e2e-old"), _address("e2e-new")
    _sign_up(stack, old)
    session = _login(stack, old)["token"]
    refused = run(stack, CHANGE_EMAIL, {"i": {"newEmail": new, "currentPassword": WRONG}}, session)
    assert refused["requestEmailChange"] == {
        "ok": False,
        "errors": [{"field": "currentPassword", "code": "INVALID"}],
    }
    asked = run(stack, CHANGE_EMAIL, {"i": {"newEmail": new, "currentPassword": PASSWORD}}, session)
    assert asked["requestEmailChange"] == {"ok": True, "errors": []}
    assert run(stack, ME, {}, session)["me"]["email"] == old  # not before the verification

    link = stack.wait_for_mail(new, subject="Confirm your email address")
    changed = run(stack, VERIFY, {"i": {"token": _token(link, "verify-email")}})
    assert changed["verifyEmail"]["user"] == {"email": new, "emailVerified": True}
    notice = stack.wait_for_mail(old, subject="Your login email was changed")
    body = notice.get_body(preferencelist=("plain",))  # type: ignore[attr-defined]
    assert new in body.get_content()
    assert run(stack, ME, {}, session)["me"]["email"] == new
    assert _login(stack, new)["errors"] == []
