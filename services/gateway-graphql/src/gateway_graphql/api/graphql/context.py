"""The per-request context of a GraphQL operation: who is asking, loaders, the session cookie."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from graphql import GraphQLResolveInfo
from werkzeug.wrappers import Response

from alvin_python_lib.errors import DomainError, Unauthenticated
from gateway_graphql.api.graphql.loaders import UserLoader
from gateway_graphql.service.accounts import Accounts, Session, User
from gateway_graphql.web.cookies import SessionCookie

__all__ = ["BEARER", "COOKIE", "Client", "GraphQLContext", "TokenSource", "context_of"]

TokenSource = Literal["bearer", "cookie"]
BEARER: TokenSource = "bearer"  # Authorization: Bearer <token>
COOKIE: TokenSource = "cookie"  # the session cookie


@dataclass(frozen=True)
class Client:
    """What the end user's request says about its sender (stored on sessions, throttling)."""

    user_agent: str = ""
    ip: str = ""


class GraphQLContext:
    """State of one GraphQL request (``info.context`` in resolvers).

    The session token comes from ``Authorization: Bearer`` or else from the session cookie. It is
    validated with the user-service (ValidateSession) lazily, the first time a resolver asks for
    the viewer, and at most once per request; the outcome, failure included, is kept.
    """

    def __init__(
        self,
        *,
        accounts: Accounts,
        cookie: SessionCookie,
        response: Response,
        token: str | None = None,
        token_source: TokenSource | None = None,
        client: Client | None = None,
    ) -> None:
        self.accounts = accounts
        self.cookie = cookie
        self.response = response
        self.token = token
        self.token_source = token_source
        self.client = client or Client()
        self.users = UserLoader(accounts)
        self.revealed_ids: set[int] = set()  # users created in this request: show their email
        self.session_validations = 0
        self._resolved = token is None
        self._viewer: User | None = None
        self._error: DomainError | None = None

    # ------------------------------------------------------------------------------ viewer

    def viewer(self) -> User | None:
        """The authenticated user, or None (no token, or an unknown/expired/revoked one)."""
        if not self._resolved:
            self._resolved = True
            self._resolve()
        if self._error is not None:
            raise self._error
        return self._viewer

    def viewer_id(self) -> int | None:
        """The authenticated user's id, or None."""
        viewer = self.viewer()
        return viewer.id if viewer is not None else None

    def require_viewer(self) -> User:
        """The authenticated user; Unauthenticated when there is none."""
        viewer = self.viewer()
        if viewer is None:
            raise Unauthenticated("Log in first.")
        return viewer

    def _resolve(self) -> None:
        assert self.token is not None
        self.session_validations += 1
        try:
            info = self.accounts.session(self.token)
        except DomainError as error:
            self._error = error
            return
        if info is None:
            if self.token_source == COOKIE:
                self.cookie.clear(self.response)  # a stale cookie: drop it
            return
        self._viewer = info.user
        self.users.prime(info.user)
        if self.token_source == COOKIE and self.accounts.session_sliding:
            self.cookie.set(self.response, self.token, info.expires_at)  # follow the slide

    # ---------------------------------------------------------------------------- sessions

    def start_session(self, session: Session, *, cookie: bool = True) -> None:
        """After a login: the session's user is the viewer; the cookie is set unless the client
        takes the token as a bearer token (``cookie=False``)."""
        self.token = session.token
        self._resolved, self._error, self._viewer = True, None, session.user
        self.users.prime(session.user)
        if cookie:
            self.cookie.set(self.response, session.token, session.expires_at)

    def end_session(self) -> None:
        """After a logout or a password change: no viewer any more; the cookie is cleared."""
        self.token = None
        self._resolved, self._error, self._viewer = True, None, None
        self.cookie.clear(self.response)

    def update_viewer(self, user: User) -> None:
        """The viewer changed (profile update)."""
        if self._viewer is not None and self._viewer.id == user.id:
            self._viewer = user
        self.users.prime(user)


def context_of(info: GraphQLResolveInfo) -> GraphQLContext:
    """The request's context, as the view built it (``info.context`` is untyped)."""
    context = info.context
    assert isinstance(context, GraphQLContext)
    return context
