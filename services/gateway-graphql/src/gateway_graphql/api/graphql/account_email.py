# Graphene ships no type information: its base classes are Any to mypy.
# mypy: disable-error-code="misc"
"""Mutations of the emailed account flows: password reset, email verification, email change.

The tokens come from links in the emails (``/reset-password?token=``, ``/verify-email?token=``
on the front end). A token that is unknown, expired or already used is a user error on the field
``token``; asking for a reset answers the same whether or not the address has an account.
"""

from __future__ import annotations

from typing import Any

import graphene  # type: ignore[import-untyped]
from graphene import relay
from graphql import GraphQLResolveInfo

from alvin_python_lib.errors import InvalidArgument
from gateway_graphql.api.graphql.context import context_of
from gateway_graphql.api.graphql.types import User
from gateway_graphql.api.graphql.user_errors import user_errors, user_errors_field

__all__ = ["RequestEmailChange", "RequestPasswordReset", "ResetPassword", "VerifyEmail"]

_POLICY = "10 to 256 characters, not the email, not a common one."


class RequestPasswordReset(relay.ClientIDMutation):
    """Email a single-use link to reset the password of the account with this email, if there
    is one. The answer is the same either way (no one learns who has an account); too many
    requests for one address or from one client fail with `RATE_LIMITED`."""

    class Input:
        email = graphene.String(required=True)

    ok = graphene.Boolean(
        required=True, description="Always true: the answer does not say whether an email went."
    )
    errors = user_errors_field()

    @classmethod
    def mutate_and_get_payload(
        cls, root: None, info: GraphQLResolveInfo, *, email: str, **_: Any
    ) -> RequestPasswordReset:
        context = context_of(info)
        context.accounts.request_password_reset(email=email, client_ip=context.client.ip)
        return cls(ok=True, errors=[])


class ResetPassword(relay.ClientIDMutation):
    """Set a new password with the token of a reset email. Every session of the user ends and
    a notice is emailed; log in with the new password next."""

    class Input:
        token = graphene.String(required=True, description="The `token` of the emailed link.")
        new_password = graphene.String(required=True, description=_POLICY)

    ok = graphene.Boolean(required=True, description="True when the password was changed.")
    errors = user_errors_field()

    @classmethod
    def mutate_and_get_payload(
        cls, root: None, info: GraphQLResolveInfo, *, token: str, new_password: str, **_: Any
    ) -> ResetPassword:
        context = context_of(info)
        try:
            context.accounts.reset_password(token=token, new_password=new_password)
        except InvalidArgument as error:
            return cls(ok=False, errors=user_errors(error))
        return cls(ok=True, errors=[])


class VerifyEmail(relay.ClientIDMutation):
    """Confirm an email address with the token of a verification email. After an email change
    this is when the new address becomes the login email (the old one is told)."""

    class Input:
        token = graphene.String(required=True, description="The `token` of the emailed link.")

    user = graphene.Field(
        User,
        description="The verified user, email included (the link proved the address is the "
        "caller's); null when `errors` is not empty.",
    )
    errors = user_errors_field()

    @classmethod
    def mutate_and_get_payload(
        cls, root: None, info: GraphQLResolveInfo, *, token: str, **_: Any
    ) -> VerifyEmail:
        context = context_of(info)
        try:
            user = context.accounts.verify_email(token=token)
        except InvalidArgument as error:
            return cls(user=None, errors=user_errors(error))
        context.revealed_ids.add(user.id)  # the link reached the address: its owner asks
        context.update_viewer(user)
        return cls(user=user, errors=[])


class RequestEmailChange(relay.ClientIDMutation):
    """Move the logged-in user to a new login email: a verification link goes to the new
    address, and the email changes when it is used. Needs the current password. The answer is
    the same whether or not the new address belongs to another account."""

    class Input:
        new_email = graphene.String(required=True)
        current_password = graphene.String(required=True)

    ok = graphene.Boolean(required=True, description="True when the link was queued.")
    errors = user_errors_field()

    @classmethod
    def mutate_and_get_payload(
        cls,
        root: None,
        info: GraphQLResolveInfo,
        *,
        new_email: str,
        current_password: str,
        **_: Any,
    ) -> RequestEmailChange:
        context = context_of(info)
        viewer = context.require_viewer()
        try:
            context.accounts.request_email_change(
                viewer.id, new_email=new_email, current_password=current_password
            )
        except InvalidArgument as error:
            return cls(ok=False, errors=user_errors(error))
        return cls(ok=True, errors=[])
