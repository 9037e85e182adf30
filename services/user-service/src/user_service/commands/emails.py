"""``user-service emails preview NAME``: a transactional email rendered to an .eml file."""

from __future__ import annotations

from pathlib import Path

import click


@click.group("emails")
def emails() -> None:
    """The transactional emails' templates."""


@emails.command("preview")
@click.argument("name")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the message (.eml); default NAME.eml in the current folder.",
)
@click.option(
    "--public-url",
    envvar="USER_SERVICE_PUBLIC_URL",
    show_envvar=True,
    default="http://localhost:8080",
    show_default=True,
    help="Base URL of the links.",
)
@click.option(
    "--sender",
    envvar="USER_SERVICE_EMAIL_FROM",
    show_envvar=True,
    default="Alvin <no-reply@example.com>",
    show_default=True,
)
def preview(name: str, out: Path | None, public_url: str, sender: str) -> None:
    """Render the email NAME with made-up values and write it as a message file (open it in a
    mail client, or read its plain-text and HTML parts)."""
    from user_service.service.email_templates import TEMPLATES, sample_email  # noqa: PLC0415

    if name not in TEMPLATES:
        raise click.BadParameter(f"one of: {', '.join(TEMPLATES)}", param_hint="NAME")
    message = sample_email(name, public_url=public_url, sender=sender)
    target = out or Path(f"{name}.eml")
    target.write_bytes(message.as_bytes())
    click.echo(f"wrote {target}")
