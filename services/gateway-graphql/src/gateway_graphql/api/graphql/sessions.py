# Graphene ships no type information: its base classes are Any to mypy.
# mypy: disable-error-code="misc"
"""The viewer's sessions and devices: the ``Session`` type, ``sessions``, ``revokeSession`` and
``revokeOtherSessions``.

The user-service finds the owner from the request's session token, so these fields can only ever
show or end the viewer's own sessions; another user's session ID answers ``NOT_FOUND``, exactly
like an ID that does not exist (no probing of who has which session).
"""

from __future__ import annotations

from typing import Any

import graphene  # type: ignore[import-untyped]
from graphene import relay
from graphql import GraphQLResolveInfo
from graphql_relay import from_global_id

from alvin_python_lib.errors import InvalidArgument
from gateway_graphql.api.graphql.context import GraphQLContext, context_of
from gateway_graphql.api.graphql.user_errors import user_errors, user_errors_field
from gateway_graphql.service.accounts import DeviceSession

__all__ = ["RevokeOtherSessions", "RevokeSession", "Session", "resolve_sessions", "sessions_field"]

SESSION_TYPE = "Session"
_MAX_ID = 2**63 - 1


class Session(graphene.ObjectType):
    """An open login session of the viewer: a browser or device that is logged in."""

    class Meta:
        interfaces = (relay.Node,)

    user_agent = graphene.String(
        required=True, description="The User-Agent of the login (empty when unknown)."
    )
    address = graphene.String(
        required=True, description="The client IP address of the login (empty when unknown)."
    )
    created_at = graphene.DateTime(required=True, description="When the session was opened.")
    last_seen_at = graphene.DateTime(
        required=True, description="When the session was last used (to within a few minutes)."
    )
    expires_at = graphene.DateTime(
        required=True, description="When the session ends unless it is used again."
    )
    current = graphene.Boolean(
        required=True, description="True for the session of this very request."
    )

    @classmethod
    def is_type_of(cls, root: Any, info: GraphQLResolveInfo) -> bool:
        return isinstance(root, DeviceSession)

    @staticmethod
    def resolve_address(root: DeviceSession, info: GraphQLResolveInfo) -> str:
        return root.client_ip


def _token(context: GraphQLContext) -> str:
    context.require_viewer()  # UNAUTHENTICATED without a valid session
    assert context.token is not None  # a viewer implies a token
    return context.token


def resolve_sessions(root: None, info: GraphQLResolveInfo) -> list[DeviceSession]:
    """The viewer's open sessions, newest first."""
    context = context_of(info)
    return context.accounts.sessions(_token(context))


def sessions_field() -> Any:
    """The ``sessions`` field of ``Query``."""
    return graphene.Field(
        graphene.NonNull(graphene.List(graphene.NonNull(Session))),
        description="The viewer's open sessions (browsers and devices), newest first; error "
        "UNAUTHENTICATED when not logged in.",
        resolver=resolve_sessions,
    )


def parse_session_id(value: str, *, field: str = "id") -> int:
    """The snowflake of a ``Session`` global ID; InvalidArgument on ``field`` otherwise."""
    resolved = from_global_id(value)
    raw = resolved.id
    if (
        resolved.type == SESSION_TYPE
        and raw.isascii()
        and raw.isdigit()
        and 0 < int(raw) <= _MAX_ID
    ):
        return int(raw)
    raise InvalidArgument.for_field(field, "is not the ID of a Session")


class RevokeSession(relay.ClientIDMutation):
    """End one of the viewer's sessions (log a device out). Ending the current one also clears
    this client's cookie. Error NOT_FOUND when the ID is not one of the viewer's open sessions."""

    class Input:
        id = graphene.ID(required=True, description="The session's global ID.")

    revoked_session_id = graphene.ID(description="The ended session's ID; null on errors.")
    current = graphene.Boolean(description="True when the ended session was this request's.")
    errors = user_errors_field()

    @classmethod
    def mutate_and_get_payload(
        cls, root: None, info: GraphQLResolveInfo, *, id: str, **_: Any
    ) -> RevokeSession:
        context = context_of(info)
        token = _token(context)
        try:
            session_id = parse_session_id(id)
        except InvalidArgument as error:
            return cls(revoked_session_id=None, current=None, errors=user_errors(error))
        current = context.accounts.revoke_session(token, session_id)
        if current:
            context.end_session()
        return cls(revoked_session_id=id, current=current, errors=[])


class RevokeOtherSessions(relay.ClientIDMutation):
    """End every session of the viewer except this request's (log out everywhere else)."""

    revoked_count = graphene.Int(required=True, description="How many sessions ended.")
    errors = user_errors_field()

    @classmethod
    def mutate_and_get_payload(
        cls, root: None, info: GraphQLResolveInfo, **_: Any
    ) -> RevokeOtherSessions:
        context = context_of(info)
        count = context.accounts.revoke_other_sessions(_token(context))
        return cls(revoked_count=count, errors=[])
