"""The session cookie: HttpOnly, SameSite=Lax, Path=/, no Domain, Secure outside development
(then named ``__Host-...``), expiring with the session."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from werkzeug.wrappers import Response

__all__ = ["SessionCookie"]


@dataclass(frozen=True)
class SessionCookie:
    """How the gateway sets and clears its session cookie."""

    name: str
    secure: bool

    def __post_init__(self) -> None:
        # A browser drops a __Host- cookie that is not Secure: fail at start-up, not at login.
        if self.name.startswith("__Host-") and not self.secure:
            raise ValueError(f"the cookie {self.name!r} must be Secure (the __Host- prefix)")

    def _forget(self, response: Response) -> None:
        # One Set-Cookie per response for this cookie: the last decision of the request wins.
        prefix = f"{self.name}="
        kept = [v for v in response.headers.getlist("Set-Cookie") if not v.startswith(prefix)]
        response.headers.setlist("Set-Cookie", kept)

    def set(self, response: Response, token: str, expires_at: datetime) -> None:
        """Send ``token`` until ``expires_at`` (the session's own expiry)."""
        self._forget(response)
        max_age = int((expires_at - datetime.now(timezone.utc)).total_seconds())
        response.set_cookie(
            self.name,
            token,
            max_age=max(max_age, 0),
            expires=expires_at,
            path="/",
            secure=self.secure,
            httponly=True,
            samesite="Lax",
        )

    def clear(self, response: Response) -> None:
        """Tell the browser to drop the cookie."""
        self._forget(response)
        response.delete_cookie(
            self.name, path="/", secure=self.secure, httponly=True, samesite="Lax"
        )
