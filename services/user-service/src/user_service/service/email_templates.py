"""The transactional emails' templates (Jinja2): an HTML part and a plain-text part each.

Templates live in ``user_service/templates/email/`` (shipped in the wheel): ``NAME.txt`` and
``NAME.html``; the HTML ones are autoescaped, so a display name or address chosen by a stranger
cannot inject markup. Links point at the front end (``ServiceConfig.public_url``).

The emails that go to an address nobody has proven yet (welcome, verify, signup_attempted) greet
with a plain "Hello," and carry no text the requester chose; the others greet by
``display_name`` when the composition gives one (a proven address) and with "Hello," otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import make_msgid
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from jinja2 import Environment

__all__ = ["SUBJECTS", "TEMPLATES", "frontend_link", "render_email", "sample_email"]

SUBJECTS: dict[str, str] = {
    "welcome": "Welcome!",
    "verify": "Confirm your email address",
    "reset": "Reset your password",
    "password_changed": "Your password was changed",  # pragma: allowlist secret
    "email_changed": "Your login email was changed",
    "signup_attempted": "Someone tried to sign up with your address",
}
TEMPLATES = tuple(SUBJECTS)

# Paths of the front-end pages the links open (the single-page app reads `token` from the query).
VERIFY_PATH = "/verify-email"
RESET_PATH = "/reset-password"


@cache
def _environment() -> Environment:
    # Made on first render (the worker's): the gRPC server imports this module but never renders,
    # and importing Jinja2 was a few percent of its start-up.
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape  # noqa: PLC0415

    return Environment(
        loader=PackageLoader("user_service", "templates/email"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,  # a missing variable fails the render instead of a blank
        keep_trailing_newline=True,
    )


def frontend_link(public_url: str, path: str, token: str | None = None) -> str:
    """``public_url`` + ``path`` (+ ``?token=``, URL-quoted)."""
    link = public_url.rstrip("/") + path
    return f"{link}?token={quote(token, safe='')}" if token is not None else link


def render_email(
    name: str, *, to: str, sender: str, context: Mapping[str, Any], product: str = "Alvin"
) -> EmailMessage:
    """The message ``name`` (one of :data:`TEMPLATES`) to ``to``, plain text with an HTML
    alternative."""
    if name not in SUBJECTS:
        raise ValueError(f"unknown email template {name!r}; known: {', '.join(TEMPLATES)}")
    variables = {"product": product, "subject": SUBJECTS[name], **context}
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = SUBJECTS[name]
    message["Message-ID"] = make_msgid(domain="alvin.invalid")
    message.set_content(_environment().get_template(f"{name}.txt").render(variables))
    message.add_alternative(
        _environment().get_template(f"{name}.html").render(variables), subtype="html"
    )
    return message


def sample_email(name: str, *, public_url: str, sender: str) -> EmailMessage:
    """``name`` rendered with made-up values (``user-service emails preview``, the tests)."""
    token = "PREVIEW-TOKEN"  # noqa: S105 - a placeholder shown in previews, not a credential
    context: dict[str, Any] = {
        "display_name": "Ada <Lovelace>",  # markup in a name must come out escaped in HTML
        "link": frontend_link(public_url, RESET_PATH if name == "reset" else VERIFY_PATH, token),
        "address": "ada@example.com",
        "expires_minutes": 60,
        "expires_hours": 48,
        "reset_link": frontend_link(public_url, RESET_PATH),
        "old_address": "ada@example.com",
        "new_address": "ada@example.org",
    }
    return render_email(name, to="ada@example.com", sender=sender, context=context)
