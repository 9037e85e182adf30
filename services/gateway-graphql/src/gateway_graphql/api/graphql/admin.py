# Graphene ships no type information: its base classes are Any to mypy.
# mypy: disable-error-code="misc"
"""Administrators' mutations: ``deactivateUser``, ``reactivateUser``, ``deleteUser``.

Anonymous callers get ``UNAUTHENTICATED`` and users who are not administrators ``FORBIDDEN``.
The gateway refuses a viewer without ``admin`` before calling anything, but that is only a
shortcut: the user-service finds the acting user from the request's session token and checks the
role itself, so a mistake here cannot grant the role.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import graphene  # type: ignore[import-untyped]
from graphene import relay
from graphql import GraphQLResolveInfo

from alvin_python_lib.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from gateway_graphql.api.graphql.context import GraphQLContext, context_of
from gateway_graphql.api.graphql.ids import parse_user_id
from gateway_graphql.api.graphql.types import User
from gateway_graphql.api.graphql.user_errors import UserErrorValue, user_errors, user_errors_field
from gateway_graphql.service.accounts import Accounts
from gateway_graphql.service.accounts import User as UserRecord

__all__ = ["DeactivateUser", "DeleteUser", "ReactivateUser"]

ADMIN_ONLY = "Only administrators may do this."


def _admin_token(context: GraphQLContext) -> str:
    viewer = context.require_viewer()
    if not viewer.admin:
        raise PermissionDenied(ADMIN_ONLY)
    assert context.token is not None  # a viewer implies a token
    return context.token


def _refused(error: InvalidArgument | FailedPrecondition) -> list[UserErrorValue]:
    if isinstance(error, FailedPrecondition):
        return [UserErrorValue("id", error.message, "INVALID")]
    return user_errors(error) or []


def _change_user(
    info: GraphQLResolveInfo, id: str, change: Callable[[Accounts, str, int], UserRecord]
) -> tuple[UserRecord | None, list[UserErrorValue]]:
    """Run an administrator's ``change`` of the user ``id``: the changed user (primed in the
    request's loader, so the payload's fields are not fetched again) or the refusal's errors."""
    context = context_of(info)
    token = _admin_token(context)
    try:
        user = change(context.accounts, token, parse_user_id(id))
    except (InvalidArgument, FailedPrecondition) as error:
        return None, _refused(error)
    context.users.prime(user)
    return user, []


class _UserInput:
    id = graphene.ID(required=True, description="The user's global ID.")


class DeactivateUser(relay.ClientIDMutation):
    """Deactivate a user (administrators only): they cannot log in and every session of theirs
    ends. Administrators cannot deactivate themselves."""

    Input = _UserInput

    user = graphene.Field(User, description="The user after the change; null on errors.")
    errors = user_errors_field()

    @classmethod
    def mutate_and_get_payload(
        cls, root: None, info: GraphQLResolveInfo, *, id: str, **_: Any
    ) -> DeactivateUser:
        user, errors = _change_user(info, id, Accounts.deactivate_user)
        return cls(user=user, errors=errors)


class ReactivateUser(relay.ClientIDMutation):
    """Let a deactivated user log in again (administrators only)."""

    Input = _UserInput

    user = graphene.Field(User, description="The user after the change; null on errors.")
    errors = user_errors_field()

    @classmethod
    def mutate_and_get_payload(
        cls, root: None, info: GraphQLResolveInfo, *, id: str, **_: Any
    ) -> ReactivateUser:
        user, errors = _change_user(info, id, Accounts.reactivate_user)
        return cls(user=user, errors=errors)


class DeleteUser(relay.ClientIDMutation):
    """Delete a user (administrators only); every session of theirs ends. Administrators cannot
    delete themselves."""

    Input = _UserInput

    deleted_user_id = graphene.ID(description="The deleted user's ID; null on errors.")
    errors = user_errors_field()

    @classmethod
    def mutate_and_get_payload(
        cls, root: None, info: GraphQLResolveInfo, *, id: str, **_: Any
    ) -> DeleteUser:
        context = context_of(info)
        token = _admin_token(context)
        try:
            context.accounts.delete_user(token, parse_user_id(id))
        except (InvalidArgument, FailedPrecondition) as error:
            return cls(deleted_user_id=None, errors=_refused(error))
        return cls(deleted_user_id=id, errors=[])
