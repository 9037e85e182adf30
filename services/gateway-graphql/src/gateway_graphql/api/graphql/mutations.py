# Graphene ships no type information: its base classes are Any to mypy.
# mypy: disable-error-code="misc"
"""The ``Mutation`` type: signup, login, logout, the viewer's account and the emailed flows.

Each mutation takes one ``input`` object (Relay's ``ClientIDMutation``) and reports invalid input
as typed ``errors`` in its payload; other failures are GraphQL errors with ``extensions.code``.
"""

from __future__ import annotations

from typing import Any

import graphene  # type: ignore[import-untyped]
from graphene import relay
from graphql import GraphQLResolveInfo

from alvin_python_lib.errors import FailedPrecondition, InvalidArgument, Unauthenticated
from gateway_graphql.api.graphql.account_email import (
    RequestEmailChange,
    RequestPasswordReset,
    ResetPassword,
    VerifyEmail,
)
from gateway_graphql.api.graphql.admin import DeactivateUser, DeleteUser, ReactivateUser
from gateway_graphql.api.graphql.context import context_of
from gateway_graphql.api.graphql.ids import parse_user_id
from gateway_graphql.api.graphql.sessions import RevokeOtherSessions, RevokeSession
from gateway_graphql.api.graphql.types import User
from gateway_graphql.api.graphql.user_errors import UserErrorValue, user_errors, user_errors_field

__all__ = ["Mutation"]


class Signup(relay.ClientIDMutation):
    """Create an account. The answer is the same whether or not the email already has an
    account (its owner is emailed instead), so signup neither logs in nor returns the user:
    follow the emailed verification link, then `login`."""

    class Input:
        email = graphene.String(required=True)
        password = graphene.String(
            required=True, description="10 to 256 characters, not the email, not a common one."
        )
        display_name = graphene.String(required=True, description="1 to 100 characters.")
        invited_by = graphene.ID(description="The global ID of the inviting user.")

    ok = graphene.Boolean(
        required=True,
        description="True when the input was accepted (an account was created, or the "
        "address's owner was told); false when `errors` is not empty.",
    )
    user = graphene.Field(
        User,
        description="Always null.",
        deprecation_reason="Signup no longer returns the user (that would tell whether the "
        "address had an account): log in next.",
    )
    errors = user_errors_field()

    @classmethod
    def mutate_and_get_payload(
        cls,
        root: None,
        info: GraphQLResolveInfo,
        *,
        email: str,
        password: str,
        display_name: str,
        invited_by: str | None = None,
        **_: Any,
    ) -> Signup:
        context = context_of(info)
        try:
            inviter = parse_user_id(invited_by, field="invited_by") if invited_by else None
            context.accounts.signup(
                email=email,
                password=password,
                display_name=display_name,
                invited_by_id=inviter,
                client_ip=context.client.ip,
            )
        except InvalidArgument as error:
            return cls(ok=False, user=None, errors=user_errors(error))
        return cls(ok=True, user=None, errors=[])


class TokenDelivery(graphene.Enum):
    """How `login` hands the session token to the client."""

    COOKIE = "cookie"
    BEARER = "bearer"

    @property
    def description(self) -> str:
        return {
            "COOKIE": "In the HttpOnly session cookie only, out of reach of the page's scripts "
            "(browsers, GraphiQL); `token` is null.",
            "BEARER": "In the payload's `token`, for a client that sends "
            "`Authorization: Bearer <token>` (apps, scripts, other services); no cookie is set.",
        }[self.name]


class Login(relay.ClientIDMutation):
    """Open a session. Browsers get the HttpOnly session cookie; a client that sends
    `Authorization: Bearer <token>` asks for the token with `tokenDelivery: BEARER`."""

    class Input:
        email = graphene.String(required=True)
        password = graphene.String(required=True)
        token_delivery = TokenDelivery(
            default_value=TokenDelivery.COOKIE,
            description="Where the session token goes: the cookie (the default) or `token`.",
        )

    user = graphene.Field(User, description="The logged-in user; null when `errors` is not empty.")
    token = graphene.String(
        description="The session token (a secret) when `tokenDelivery` is `BEARER`: send it as "
        "`Authorization: Bearer <token>`. Null for cookie logins."
    )
    expires_at = graphene.DateTime(description="When the session ends unless it is used.")
    errors = user_errors_field()

    @classmethod
    def mutate_and_get_payload(
        cls,
        root: None,
        info: GraphQLResolveInfo,
        email: str,
        password: str,
        token_delivery: Any = TokenDelivery.COOKIE,
        **_: Any,
    ) -> Login:
        context = context_of(info)
        try:
            session = context.accounts.login(
                email=email,
                password=password,
                user_agent=context.client.user_agent,
                client_ip=context.client.ip,
            )
        except Unauthenticated as error:
            errors = [UserErrorValue(None, error.message, "INVALID_CREDENTIALS")]
            return cls(user=None, token=None, expires_at=None, errors=errors)
        except FailedPrecondition as error:  # right password, unverified email, strict setting
            errors = [UserErrorValue("email", error.message, "EMAIL_NOT_VERIFIED")]
            return cls(user=None, token=None, expires_at=None, errors=errors)
        except InvalidArgument as error:
            return cls(user=None, token=None, expires_at=None, errors=user_errors(error))
        bearer = token_delivery == TokenDelivery.BEARER
        context.start_session(session, cookie=not bearer)
        token = session.token if bearer else None  # never where a cookie client's scripts read
        return cls(user=session.user, token=token, expires_at=session.expires_at, errors=[])


class Logout(relay.ClientIDMutation):
    """End the current session (the token or cookie of this request) and clear the cookie.
    Succeeds also when there is no session."""

    ok = graphene.Boolean(required=True)
    errors = user_errors_field()

    @classmethod
    def mutate_and_get_payload(cls, root: None, info: GraphQLResolveInfo, **_: Any) -> Logout:
        context = context_of(info)
        context.accounts.logout(context.token)
        context.end_session()
        return cls(ok=True, errors=[])


class UpdateMe(relay.ClientIDMutation):
    """Change the logged-in user's profile. The login email changes with
    `requestEmailChange` (it needs the current password and a verified new address)."""

    class Input:
        display_name = graphene.String(description="1 to 100 characters.")

    user = graphene.Field(User, description="The updated user; null when `errors` is not empty.")
    errors = user_errors_field()

    @classmethod
    def mutate_and_get_payload(
        cls,
        root: None,
        info: GraphQLResolveInfo,
        display_name: str | None = None,
        **_: Any,
    ) -> UpdateMe:
        context = context_of(info)
        viewer = context.require_viewer()
        try:
            user = context.accounts.update_profile(viewer.id, display_name=display_name)
        except InvalidArgument as error:
            return cls(user=None, errors=user_errors(error))
        context.update_viewer(user)
        return cls(user=user, errors=[])


class ChangePassword(relay.ClientIDMutation):
    """Replace the logged-in user's password. Every session of the user ends, this one too (the
    cookie is cleared): log in again with the new password."""

    class Input:
        current_password = graphene.String(required=True)
        new_password = graphene.String(
            required=True, description="10 to 256 characters, not the email, not a common one."
        )

    ok = graphene.Boolean(required=True, description="True when the password was changed.")
    errors = user_errors_field()

    @classmethod
    def mutate_and_get_payload(
        cls,
        root: None,
        info: GraphQLResolveInfo,
        current_password: str,
        new_password: str,
        **_: Any,
    ) -> ChangePassword:
        context = context_of(info)
        viewer = context.require_viewer()
        try:
            context.accounts.change_password(
                viewer.id, current_password=current_password, new_password=new_password
            )
        except InvalidArgument as error:
            return cls(ok=False, errors=user_errors(error))
        context.end_session()
        return cls(ok=True, errors=[])


class Mutation(graphene.ObjectType):
    """Entry points for writing. Send them as JSON POSTs, as GraphQL clients do: a POST with a
    `text/plain`, form or multipart body is refused (`CSRF_PREVENTED`) unless it carries a
    preflight header such as `Apollo-Require-Preflight`."""

    signup = Signup.Field()
    login = Login.Field()
    logout = Logout.Field()
    update_me = UpdateMe.Field()
    change_password = ChangePassword.Field()
    revoke_session = RevokeSession.Field()
    revoke_other_sessions = RevokeOtherSessions.Field()
    deactivate_user = DeactivateUser.Field()
    reactivate_user = ReactivateUser.Field()
    delete_user = DeleteUser.Field()
    request_password_reset = RequestPasswordReset.Field()
    reset_password = ResetPassword.Field()
    verify_email = VerifyEmail.Field()
    request_email_change = RequestEmailChange.Field()
