# Graphene ships no type information: its base classes are Any to mypy.
# mypy: disable-error-code="misc"
"""The GraphQL schema (Relay conventions): users, sessions and the viewer's account.

Resolvers translate between GraphQL and the service layer only: they read ``info.context``
(:class:`~gateway_graphql.api.graphql.context.GraphQLContext`), call
:class:`~gateway_graphql.service.accounts.Accounts`, and raise domain exceptions, which
:mod:`~gateway_graphql.api.graphql.errors` turns into ``extensions.code``. Mutations report
invalid input as typed ``errors`` in their payload instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import graphene  # type: ignore[import-untyped]
from graphene import relay
from graphql import GraphQLResolveInfo

from alvin_python_lib.errors import (
    AlreadyExists,
    DomainError,
    InvalidArgument,
    NotFound,
    Unauthenticated,
)
from gateway_graphql.api.graphql.context import GraphQLContext
from gateway_graphql.api.graphql.errors import graphql_field_name
from gateway_graphql.api.graphql.ids import (
    USER_TYPE,
    decode_cursor,
    encode_cursor,
    parse_global_id,
    parse_user_id,
)
from gateway_graphql.api.graphql.loaders import then
from gateway_graphql.service.accounts import User as UserRecord
from gateway_graphql.service.accounts import email_visible_to

__all__ = ["schema"]


def _context(info: GraphQLResolveInfo) -> GraphQLContext:
    context = info.context
    assert isinstance(context, GraphQLContext)
    return context


# --------------------------------------------------------------------------------- errors


class UserErrorCode(graphene.Enum):
    """Why a mutation's input was refused."""

    INVALID = "INVALID"
    TAKEN = "TAKEN"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"

    @property
    def description(self) -> str:
        return {
            "INVALID": "The value does not meet the field's rules (format, length, policy).",
            "TAKEN": "The value belongs to another account (e.g. the email).",
            "INVALID_CREDENTIALS": "Unknown email, wrong password or inactive account.",
        }[self.name]


class UserError(graphene.ObjectType):
    """An input problem to show next to the form field it concerns."""

    field = graphene.String(
        description=(
            "The input field at fault, as named in the mutation's input (`displayName`, "
            "`newPassword` ...); null when the error concerns the input as a whole."
        )
    )
    message = graphene.String(required=True, description="A sentence to show to the user.")
    code = graphene.Field(UserErrorCode, required=True, description="A stable reason code.")


@dataclass(frozen=True)
class _UserErrorValue:
    field: str | None
    message: str
    code: str


_LABELS = {
    "email": "Email",
    "password": "Password",
    "displayName": "Display name",
    "invitedBy": "Inviting user",
    "currentPassword": "Current password",
    "newPassword": "New password",
}
_FIELD_ALIASES = {"invitedById": "invitedBy"}  # user-service names that differ from the input's


def _input_field(name: str) -> str | None:
    field = graphql_field_name(name)
    return _FIELD_ALIASES.get(field, field) if field is not None else None


def _sentence(field: str | None, text: str) -> str:
    text = text.strip().rstrip(".")
    if field is None:
        return text[:1].upper() + text[1:] + "."
    label = _LABELS.get(field, field)
    if text.split(" ", 1)[0] in {"is", "must", "does", "already"}:
        return f"{label} {text}."
    return f"{label}: {text}."


def _user_errors(error: DomainError) -> list[_UserErrorValue] | None:
    """The payload errors for an input problem, or None when ``error`` is not one."""
    if isinstance(error, InvalidArgument):
        if not error.violations:
            return [_UserErrorValue(None, _sentence(None, error.message), "INVALID")]
        return [
            _UserErrorValue(
                _input_field(v.field), _sentence(_input_field(v.field), v.description), "INVALID"
            )
            for v in error.violations
        ]
    if isinstance(error, AlreadyExists):
        field = _input_field(error.field or "")
        return [_UserErrorValue(field, _sentence(field, "is already taken"), "TAKEN")]
    return None


# ---------------------------------------------------------------------------------- types


class User(graphene.ObjectType):
    """A user account."""

    class Meta:
        interfaces = (relay.Node,)

    email = graphene.String(
        description="The login email: visible to the user themself only, null for anyone else."
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
        context = _context(info)
        if root.id in context.revealed_ids:
            return root.email
        return root.email if email_visible_to(root, context.viewer_id()) else None

    @staticmethod
    def resolve_invited_by(root: UserRecord, info: GraphQLResolveInfo) -> Any:
        if root.invited_by_id is None:
            return None
        return _context(info).users.load(root.invited_by_id)


class UserConnection(relay.Connection):
    """A page of users, oldest first."""

    class Meta:
        node = User


# ---------------------------------------------------------------------------------- query


def _load_node(info: GraphQLResolveInfo, global_id: str, field: str) -> Any:
    type_name, raw_id = parse_global_id(global_id, field=field)
    if type_name != USER_TYPE:
        return None  # a well-formed ID of a type this API does not have: no such node
    return _context(info).users.load(raw_id)


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

    @staticmethod
    def resolve_node(root: None, info: GraphQLResolveInfo, id: str) -> Any:
        return _load_node(info, id, "id")

    @staticmethod
    def resolve_nodes(root: None, info: GraphQLResolveInfo, ids: list[str]) -> list[Any]:
        limit = _context(info).accounts.max_page_size
        if len(ids) > limit:
            raise InvalidArgument.for_field("ids", f"at most {limit} IDs per call")
        return [_load_node(info, value, "ids") for value in ids]

    @staticmethod
    def resolve_me(root: None, info: GraphQLResolveInfo) -> UserRecord | None:
        return _context(info).viewer()

    @staticmethod
    def resolve_user(root: None, info: GraphQLResolveInfo, id: str) -> Any:
        user_id = parse_user_id(id)

        def found(user: UserRecord | None) -> UserRecord:
            if user is None:
                raise NotFound("User not found.", entity="User")
            return user

        return then(_context(info).users.load(user_id), found)

    @staticmethod
    def resolve_users(
        root: None, info: GraphQLResolveInfo, first: int | None = None, after: str | None = None
    ) -> UserConnection:
        context = _context(info)
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


# ------------------------------------------------------------------------------ mutations


def _errors_field() -> Any:
    return graphene.NonNull(
        graphene.List(graphene.NonNull(UserError)),
        description="Input problems; empty when the mutation succeeded.",
    )


class Signup(relay.ClientIDMutation):
    """Create an account (it does not log in: use `login` next)."""

    class Input:
        email = graphene.String(required=True)
        password = graphene.String(
            required=True, description="10 to 256 characters, not the email, not a common one."
        )
        display_name = graphene.String(required=True, description="1 to 100 characters.")
        invited_by = graphene.ID(description="The global ID of the inviting user.")

    user = graphene.Field(User, description="The new account; null when `errors` is not empty.")
    errors = _errors_field()

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
        context = _context(info)
        try:
            inviter = parse_user_id(invited_by, field="invited_by") if invited_by else None
            user = context.accounts.signup(
                email=email, password=password, display_name=display_name, invited_by_id=inviter
            )
        except (InvalidArgument, AlreadyExists) as error:
            return cls(user=None, errors=_user_errors(error))
        context.revealed_ids.add(user.id)
        context.users.prime(user)
        return cls(user=user, errors=[])


class Login(relay.ClientIDMutation):
    """Open a session: sets the HttpOnly session cookie and returns the token for clients that
    send `Authorization: Bearer <token>` instead."""

    class Input:
        email = graphene.String(required=True)
        password = graphene.String(required=True)

    user = graphene.Field(User, description="The logged-in user; null when `errors` is not empty.")
    token = graphene.String(
        description="The session token (a secret): send it as `Authorization: Bearer <token>`."
    )
    expires_at = graphene.DateTime(description="When the session ends unless it is used.")
    errors = _errors_field()

    @classmethod
    def mutate_and_get_payload(
        cls, root: None, info: GraphQLResolveInfo, email: str, password: str, **_: Any
    ) -> Login:
        context = _context(info)
        try:
            session = context.accounts.login(
                email=email,
                password=password,
                user_agent=context.client.user_agent,
                client_ip=context.client.ip,
            )
        except Unauthenticated as error:
            errors = [_UserErrorValue(None, error.message, "INVALID_CREDENTIALS")]
            return cls(user=None, token=None, expires_at=None, errors=errors)
        except InvalidArgument as error:
            return cls(user=None, token=None, expires_at=None, errors=_user_errors(error))
        context.start_session(session)
        return cls(user=session.user, token=session.token, expires_at=session.expires_at, errors=[])


class Logout(relay.ClientIDMutation):
    """End the current session (the token or cookie of this request) and clear the cookie.
    Succeeds also when there is no session."""

    ok = graphene.Boolean(required=True)
    errors = _errors_field()

    @classmethod
    def mutate_and_get_payload(cls, root: None, info: GraphQLResolveInfo, **_: Any) -> Logout:
        context = _context(info)
        context.accounts.logout(context.token)
        context.end_session()
        return cls(ok=True, errors=[])


class UpdateMe(relay.ClientIDMutation):
    """Change the logged-in user's profile (the fields given; at least one)."""

    class Input:
        display_name = graphene.String(description="1 to 100 characters.")
        email = graphene.String(description="A new login email, not used by another account.")

    user = graphene.Field(User, description="The updated user; null when `errors` is not empty.")
    errors = _errors_field()

    @classmethod
    def mutate_and_get_payload(
        cls,
        root: None,
        info: GraphQLResolveInfo,
        display_name: str | None = None,
        email: str | None = None,
        **_: Any,
    ) -> UpdateMe:
        context = _context(info)
        viewer = context.require_viewer()
        try:
            user = context.accounts.update_profile(
                viewer.id, display_name=display_name, email=email
            )
        except (InvalidArgument, AlreadyExists) as error:
            return cls(user=None, errors=_user_errors(error))
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
    errors = _errors_field()

    @classmethod
    def mutate_and_get_payload(
        cls,
        root: None,
        info: GraphQLResolveInfo,
        current_password: str,
        new_password: str,
        **_: Any,
    ) -> ChangePassword:
        context = _context(info)
        viewer = context.require_viewer()
        try:
            context.accounts.change_password(
                viewer.id, current_password=current_password, new_password=new_password
            )
        except InvalidArgument as error:
            return cls(ok=False, errors=_user_errors(error))
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


schema = graphene.Schema(query=Query, mutation=Mutation)
