"""The gateway's use cases: sessions, signup, profile and password; user lookups and paging.

Transport-free: called by the GraphQL API with plain values, calls the user-service through the
remote client, raises the domain exceptions of :mod:`alvin_python_lib.errors`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from alvin_python_lib.errors import DomainError, FieldViolation, InvalidArgument, Unauthenticated
from gateway_graphql.remote.user_service import (
    DeviceSession,
    Session,
    SessionInfo,
    User,
    UserPage,
    UserServiceClient,
)

__all__ = [
    "LIST_USERS_MAX_PAGE",
    "Accounts",
    "DeviceSession",
    "PagePosition",
    "Readiness",
    "Session",
    "SessionInfo",
    "User",
    "UserSlice",
    "email_visible_to",
]

# The user-service lowers ListUsers page sizes above this (see the contract).
LIST_USERS_MAX_PAGE = 200
# Extra ListUsers calls allowed to skip over pages that the service returned short.
_MAX_PAGE_HOPS = 3


@dataclass(frozen=True)
class PagePosition:
    """A place in the user list: after ``skip`` users of the ListUsers page ``page_token``.

    ``page_token`` is the user-service's opaque token ("" for the first page). Positions are what
    the API's cursors carry: the user-service hands out a token only at the end of each page, so
    the place after a user in the middle of a page is that page's token plus an offset.
    """

    page_token: str = ""
    skip: int = 0


@dataclass(frozen=True)
class UserSlice:
    """Users of a list request, the position after each of them, and whether more follow."""

    users: list[User]
    positions: list[PagePosition]
    has_next_page: bool


@dataclass(frozen=True)
class Readiness:
    """Whether the gateway can serve: each dependency's status."""

    ready: bool
    checks: dict[str, str]


def email_visible_to(
    user: User,
    viewer_id: int | None,
    revealed: Collection[int] = (),
    *,
    viewer_is_admin: bool = False,
) -> bool:
    """A user's email is shown to that user and to administrators (``revealed``: ids the caller
    just created)."""
    return (
        viewer_is_admin or (viewer_id is not None and viewer_id == user.id) or user.id in revealed
    )


class Accounts:
    """The use cases, bound to a user-service client."""

    def __init__(
        self,
        users: UserServiceClient,
        *,
        default_page_size: int = 20,
        max_page_size: int = 100,
        session_sliding: bool = True,
    ) -> None:
        if not 1 <= max_page_size <= LIST_USERS_MAX_PAGE // 2:
            raise ValueError(f"max_page_size must be between 1 and {LIST_USERS_MAX_PAGE // 2}")
        self.users = users
        self.default_page_size = min(default_page_size, max_page_size)
        self.max_page_size = max_page_size
        self.session_sliding = session_sliding

    # ---------------------------------------------------------------------------- sessions

    def login(
        self, *, email: str, password: str, user_agent: str = "", client_ip: str = ""
    ) -> Session:
        """Open a session (Unauthenticated for bad credentials, ResourceExhausted when
        throttled)."""
        return self.users.authenticate(
            email=email, password=password, user_agent=user_agent, client_ip=client_ip
        )

    def session(self, token: str) -> SessionInfo | None:
        """The session behind ``token``, or None when it is unknown, expired or revoked.

        With sliding sessions the expiry moves forward (the user-service decides when).
        """
        if not token:
            return None
        try:
            return self.users.validate_session(token, refresh=self.session_sliding)
        except (Unauthenticated, InvalidArgument):
            return None

    def logout(self, token: str | None) -> None:
        """End the session (idempotent; nothing to do without a token)."""
        if token:
            self.users.revoke_session(token)

    # ---------------------------------------------------------------------------- accounts

    def signup(
        self,
        *,
        email: str,
        password: str,
        display_name: str,
        invited_by_id: int | None = None,
        client_ip: str = "",
    ) -> None:
        """Sign up; the same answer whether or not the address has an account (its owner is
        emailed instead). InvalidArgument names the fields at fault; never "taken"."""
        self.users.sign_up(
            email=email,
            password=password,
            display_name=display_name,
            invited_by_id=invited_by_id,
            client_ip=client_ip,
        )

    def update_profile(self, user_id: int, *, display_name: str | None = None) -> User:
        """Change the user's display name (the email changes with :meth:`request_email_change`,
        which needs the current password)."""
        if display_name is None:
            raise InvalidArgument(
                violations=[FieldViolation("", "name at least one field to change")]
            )
        return self.users.update_user(user_id, display_name=display_name)

    def request_password_reset(self, *, email: str, client_ip: str = "") -> None:
        """Email a reset link if the address has an account; the same answer either way."""
        self.users.request_password_reset(email=email, client_ip=client_ip)

    def reset_password(self, *, token: str, new_password: str) -> None:
        """Set a new password with the emailed token; every session of the user ends."""
        self.users.reset_password(token=token, new_password=new_password)

    def verify_email(self, *, token: str) -> User:
        """Use an emailed verification token (after an email change, the new email applies)."""
        return self.users.verify_email(token=token)

    def request_email_change(self, user_id: int, *, new_email: str, current_password: str) -> None:
        """Email a verification link to ``new_email``; the login email changes once it is used."""
        self.users.request_email_change(
            user_id, new_email=new_email, current_password=current_password
        )

    def change_password(self, user_id: int, *, current_password: str, new_password: str) -> None:
        """Replace the password; every session of the user ends (this one too)."""
        self.users.change_password(
            user_id, current_password=current_password, new_password=new_password
        )

    # ----------------------------------------------------------------------------- devices

    def sessions(self, token: str) -> list[DeviceSession]:
        """The open sessions of the token's user, newest first."""
        return self.users.list_sessions(token)

    def revoke_session(self, token: str, session_id: int) -> bool:
        """End one of the user's sessions (NotFound for any other id); True when it was the
        token's own."""
        return self.users.revoke_session_by_id(token, session_id)

    def revoke_other_sessions(self, token: str) -> int:
        """End every session of the user but the token's own; how many ended."""
        return self.users.revoke_other_sessions(token)

    # ------------------------------------------------------------------------ administration
    # The user-service decides from the token whose it is and whether that user is an
    # administrator: the gateway's own check (the viewer's ``admin``) only saves a round trip.

    def deactivate_user(self, token: str, user_id: int) -> User:
        """Deactivate a user (their sessions end; they cannot log in)."""
        return self.users.deactivate_user(token, user_id)

    def reactivate_user(self, token: str, user_id: int) -> User:
        """Let a deactivated user log in again."""
        return self.users.reactivate_user(token, user_id)

    def delete_user(self, token: str, user_id: int) -> None:
        """Delete a user (softly, as the user-service does)."""
        self.users.admin_delete_user(token, user_id)

    # ----------------------------------------------------------------------------- lookups

    def get_users(self, user_ids: Iterable[int]) -> dict[int, User]:
        """The users that exist among ``user_ids``, by id (one call per 500 ids)."""
        return self.users.batch_get_users(user_ids)

    def list_users(self, *, first: int, after: PagePosition | None = None) -> UserSlice:
        """Up to ``first`` users (capped at ``max_page_size``) after ``after``, in id order.

        Normally one ListUsers call: the page starting at ``after.page_token``, of size
        ``after.skip + first``, minus its first ``after.skip`` users.
        """
        if first < 0:
            raise InvalidArgument.for_field("first", "must not be negative")
        first = min(first, self.max_page_size)
        position = after or PagePosition()
        if not 0 <= position.skip < LIST_USERS_MAX_PAGE:
            raise InvalidArgument.for_field("after", "is not a valid cursor")
        token, skip = position.page_token, position.skip
        for _ in range(_MAX_PAGE_HOPS):
            page = self._page(page_size=skip + max(first, 1), page_token=token)
            if len(page.users) > skip or not page.next_page_token:
                break
            # The service returned a short page that ends before our offset: go on after it.
            skip -= len(page.users)
            token = page.next_page_token
        return self._slice(page, token=token, skip=skip, first=first)

    def _page(self, *, page_size: int, page_token: str) -> UserPage:
        try:
            return self.users.list_users(page_size=page_size, page_token=page_token)
        except InvalidArgument as error:
            if any(v.field == "page_token" for v in error.violations):
                # a cursor we did not make (or one from another deployment)
                raise InvalidArgument.for_field("after", "is not a valid cursor") from error
            raise

    @staticmethod
    def _slice(page: UserPage, *, token: str, skip: int, first: int) -> UserSlice:
        users = page.users[skip : skip + first]
        positions = [PagePosition(token, skip + index + 1) for index in range(len(users))]
        ends_page = skip + len(users) >= len(page.users)
        if users and ends_page and page.next_page_token:
            positions[-1] = PagePosition(page.next_page_token, 0)
        has_next = not ends_page or bool(page.next_page_token)
        return UserSlice(users=users, positions=positions, has_next_page=has_next)

    # ------------------------------------------------------------------------------ health

    def readiness(self, *, timeout: float) -> Readiness:
        """Ready when the user-service's health service reports SERVING within ``timeout``."""
        try:
            status = self.users.health(timeout=timeout)
        except DomainError:
            status = "UNREACHABLE"
        return Readiness(ready=status == "SERVING", checks={"user-service": status})
