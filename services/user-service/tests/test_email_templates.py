"""Every email template renders (plain text and escaped HTML); ``emails preview`` writes it."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from click.testing import CliRunner
from jinja2 import UndefinedError

from user_service.commands import cli
from user_service.service.email_templates import (
    SUBJECTS,
    TEMPLATES,
    render_email,
    sample_email,
)

EXPECTED = {"welcome", "verify", "reset", "password_changed", "email_changed", "signup_attempted"}
# Sent to an address nobody has proven yet: never greeted by the (self-chosen) display name.
UNNAMED = {"welcome", "verify", "signup_attempted"}


def test_the_templates_are_the_expected_ones() -> None:
    assert set(TEMPLATES) == EXPECTED


@pytest.mark.parametrize("name", TEMPLATES)
def test_each_template_renders_both_parts(name: str) -> None:
    message = sample_email(name, public_url="https://app.example.com/", sender="A <a@example.com>")
    assert message["Subject"] == SUBJECTS[name]
    assert message["To"] == "ada@example.com"
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert plain is not None
    assert html is not None
    text, markup = plain.get_content(), html.get_content()  # type: ignore[attr-defined]
    if name in UNNAMED:
        assert text.splitlines()[0] == "Hello,"
        assert "<p>Hello,</p>" in markup
        assert "Lovelace" not in text
        assert "Lovelace" not in markup
    else:
        assert "Ada <Lovelace>" in text  # plain text is not escaped
        assert "Ada &lt;Lovelace&gt;" in markup  # HTML is
        assert "<Lovelace>" not in markup
    if name in {"verify", "reset"}:
        page = "reset-password" if name == "reset" else "verify-email"
        assert f"https://app.example.com/{page}?token=PREVIEW-TOKEN" in text
        assert f"https://app.example.com/{page}?token=PREVIEW-TOKEN" in markup


@pytest.mark.parametrize("name", sorted(set(TEMPLATES) - UNNAMED))
def test_without_a_name_the_greeting_is_plain(name: str) -> None:
    # the composition gives "" for an address its owner has not proven
    context = {
        "display_name": "",
        "link": "https://x.test/reset-password?token=T",
        "expires_minutes": 60,
        "reset_link": "https://x.test/reset-password",
        "old_address": "a@example.com",
        "new_address": "b@example.com",
    }
    message = render_email(name, to="a@example.com", sender="x@example.com", context=context)
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert plain is not None
    assert html is not None
    assert plain.get_content().splitlines()[0] == "Hello,"  # type: ignore[attr-defined]
    assert "<p>Hello,</p>" in html.get_content()  # type: ignore[attr-defined]


def test_a_missing_variable_fails_instead_of_mailing_a_blank() -> None:
    with pytest.raises(UndefinedError):
        render_email("reset", to="x@example.com", sender="x@example.com", context={})


def test_unknown_template_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown email template"):
        render_email("nope", to="x@example.com", sender="x@example.com", context={})


def test_preview_command_writes_the_message(tmp_path: Path) -> None:
    out = tmp_path / "reset.eml"
    result = CliRunner().invoke(
        cli, ["emails", "preview", "reset", "--out", str(out), "--public-url", "https://x.test"]
    )
    assert result.exit_code == 0, result.output
    parsed = message_from_bytes(out.read_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    assert parsed["Subject"] == "Reset your password"
    body = parsed.get_body(preferencelist=("plain",))
    assert body is not None
    assert "https://x.test/reset-password?token=" in body.get_content()  # type: ignore[attr-defined]


def test_preview_command_refuses_an_unknown_name(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["emails", "preview", "nope", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert "welcome" in result.output
