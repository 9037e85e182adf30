# Graphene ships no type information: its base classes are Any to mypy.
# mypy: disable-error-code="misc"
"""The ``Query`` type: nodes by global ID, the viewer, one user, the user list."""

from __future__ import annotations

from typing import Any

import graphene  # type: ignore[import-untyped]
from graphene import relay
from graphql import GraphQLResolveInfo

from alvin_python_lib.errors import InvalidArgument, NotFound
from gateway_graphql.api.graphql.context import context_of
from gateway_graphql.api.graphql.ids import (
    USER_TYPE,
    decode_cursor,
    encode_cursor,
    parse_global_id,
    parse_user_id,
)
from gateway_graphql.api.graphql.loaders import then
from gateway_graphql.api.graphql.sessions import sessions_field
from gateway_graphql.api.graphql.types import User, UserConnection
from gateway_graphql.service.accounts import User as UserRecord

__all__ = ["Query"]


def _load_node(info: GraphQLResolveInfo, global_id: str, field: str) -> Any:
    type_name, raw_id = parse_global_id(global_id, field=field)
    if type_name != USER_TYPE:
        return None  # a well-formed ID of a type this API does not have: no such node
    return context_of(info).users.load(raw_id)


class Query(graphene.ObjectType):
    """Entry points for reading."""

    node = graphene.Field(
        relay.Node,
        id=graphene.ID(required=True, description="A global ID."),
        description="Any object by its global ID; null when there is none.",
    )
    nodes = graphene.Field(
        graphene.NonNull(graphene.List(relay.Node)),
        ids=graphene.NonNull(graphene.List(graphene.NonNull(graphene.ID))),
        description=(
            "Objects by global ID, in the order asked (null for those that do not exist); at "
            "most the page size cap (100) per call. Fetched in one batch."
        ),
    )
    me = graphene.Field(User, description="The logged-in user; null when not logged in.")
    user = graphene.Field(
        User,
        id=graphene.ID(required=True, description="The user's global ID."),
        description="One user (error NOT_FOUND when there is none).",
    )
    users = graphene.Field(
        graphene.NonNull(UserConnection),
        first=graphene.Int(
            description="How many users (default 20; values above 100 are lowered to 100)."
        ),
        after=graphene.String(description="Start after this cursor (an edge's `cursor`)."),
        description="Every user, oldest first, a page at a time (forward pagination only).",
    )
    sessions = sessions_field()

    @staticmethod
    def resolve_node(root: None, info: GraphQLResolveInfo, id: str) -> Any:
        return _load_node(info, id, "id")

    @staticmethod
    def resolve_nodes(root: None, info: GraphQLResolveInfo, ids: list[str]) -> list[Any]:
        limit = context_of(info).accounts.max_page_size
        if len(ids) > limit:
            raise InvalidArgument.for_field("ids", f"at most {limit} IDs per call")
        return [_load_node(info, value, "ids") for value in ids]

    @staticmethod
    def resolve_me(root: None, info: GraphQLResolveInfo) -> UserRecord | None:
        return context_of(info).viewer()

    @staticmethod
    def resolve_user(root: None, info: GraphQLResolveInfo, id: str) -> Any:
        user_id = parse_user_id(id)

        def found(user: UserRecord | None) -> UserRecord:
            if user is None:
                raise NotFound("User not found.", entity="User")
            return user

        return then(context_of(info).users.load(user_id), found)

    @staticmethod
    def resolve_users(
        root: None, info: GraphQLResolveInfo, first: int | None = None, after: str | None = None
    ) -> UserConnection:
        context = context_of(info)
        start = decode_cursor(after) if after else None
        if first is None:
            first = context.accounts.default_page_size
        found = context.accounts.list_users(first=first, after=start)
        for user in found.users:
            context.users.prime(user)
        edges = [
            UserConnection.Edge(node=user, cursor=encode_cursor(place))
            for user, place in zip(found.users, found.positions, strict=True)
        ]
        return UserConnection(
            edges=edges,
            page_info=relay.PageInfo(
                has_next_page=found.has_next_page,
                has_previous_page=False,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
        )
