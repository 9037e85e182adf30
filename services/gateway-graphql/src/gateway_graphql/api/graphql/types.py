# Graphene ships no type information: its base classes are Any to mypy.
# mypy: disable-error-code="misc"
"""The object types: ``User`` (a Relay ``Node``) and its connection."""

from __future__ import annotations

from typing import Any

import graphene  # type: ignore[import-untyped]
from graphene import relay
from graphql import GraphQLResolveInfo

from gateway_graphql.api.graphql.context import context_of
from gateway_graphql.service.accounts import User as UserRecord
from gateway_graphql.service.accounts import email_visible_to

__all__ = ["User", "UserConnection"]


class User(graphene.ObjectType):
    """A user account."""

    class Meta:
        interfaces = (relay.Node,)

    email = graphene.String(
        description="The login email: visible to the user themself and to administrators, null "
        "for anyone else."
    )
    email_verified = graphene.Boolean(
        description="Whether the owner confirmed `email` (a verification link or a password "
        "reset): visible where `email` is, null elsewhere."
    )
    admin = graphene.Boolean(
        description="True for an administrator: visible where `email` is, null elsewhere."
    )
    display_name = graphene.String(required=True, description="The name shown to other users.")
    created_at = graphene.DateTime(required=True, description="When the account was created.")
    invited_by = graphene.Field(
        lambda: User, description="The user who invited this one; null without an invitation."
    )

    @classmethod
    def is_type_of(cls, root: Any, info: GraphQLResolveInfo) -> bool:
        return isinstance(root, UserRecord)

    @staticmethod
    def resolve_email(root: UserRecord, info: GraphQLResolveInfo) -> str | None:
        context = context_of(info)
        if root.id in context.revealed_ids:
            return root.email
        viewer = context.viewer()
        visible = email_visible_to(
            root,
            viewer.id if viewer is not None else None,
            viewer_is_admin=viewer is not None and viewer.admin,
        )
        return root.email if visible else None

    @staticmethod
    def resolve_admin(root: UserRecord, info: GraphQLResolveInfo) -> bool | None:
        # Who holds the role is shown where the email is: no list of targets for strangers.
        return root.admin if User.resolve_email(root, info) is not None else None

    @staticmethod
    def resolve_email_verified(root: UserRecord, info: GraphQLResolveInfo) -> bool | None:
        # The same rule as `email`: the flag says something about the address.
        return root.email_verified if User.resolve_email(root, info) is not None else None

    @staticmethod
    def resolve_invited_by(root: UserRecord, info: GraphQLResolveInfo) -> Any:
        if root.invited_by_id is None:
            return None
        return context_of(info).users.load(root.invited_by_id)


class UserConnection(relay.Connection):
    """A page of users, oldest first."""

    class Meta:
        node = User
