# Graphene ships no type information: its base classes are Any to mypy.
# mypy: disable-error-code="misc"
"""Input problems in mutation payloads: ``errors { field message code }``.

The user-service reports invalid input as ``InvalidArgument`` (with field violations) or
``AlreadyExists``; these become ``UserError`` values named after the mutation's input fields and
worded for people, so that a form can show each next to its field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import graphene  # type: ignore[import-untyped]

from alvin_python_lib.errors import AlreadyExists, DomainError, InvalidArgument
from gateway_graphql.api.graphql.errors import graphql_field_name

__all__ = ["UserError", "UserErrorCode", "UserErrorValue", "user_errors", "user_errors_field"]


class UserErrorCode(graphene.Enum):
    """Why a mutation's input was refused."""

    INVALID = "INVALID"
    TAKEN = "TAKEN"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    EMAIL_NOT_VERIFIED = "EMAIL_NOT_VERIFIED"

    @property
    def description(self) -> str:
        return {
            "INVALID": "The value does not meet the field's rules (format, length, policy).",
            "TAKEN": "The value belongs to another account (e.g. the email).",
            "INVALID_CREDENTIALS": "Unknown email, wrong password or inactive account.",
            "EMAIL_NOT_VERIFIED": "The password is right but the account's email is not "
            "verified yet, and this deployment requires it (follow the emailed link).",
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
class UserErrorValue:
    """A ``UserError`` as the resolvers return it."""

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
    "newEmail": "New email",
    "token": "The link",
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


def user_errors(error: DomainError) -> list[UserErrorValue] | None:
    """The payload errors for an input problem, or None when ``error`` is not one."""
    if isinstance(error, InvalidArgument):
        if not error.violations:
            return [UserErrorValue(None, _sentence(None, error.message), "INVALID")]
        return [
            UserErrorValue(
                _input_field(v.field), _sentence(_input_field(v.field), v.description), "INVALID"
            )
            for v in error.violations
        ]
    if isinstance(error, AlreadyExists):
        field = _input_field(error.field or "")
        return [UserErrorValue(field, _sentence(field, "is already taken"), "TAKEN")]
    return None


def user_errors_field() -> Any:
    """The ``errors`` field of every mutation payload."""
    return graphene.NonNull(
        graphene.List(graphene.NonNull(UserError)),
        description="Input problems; empty when the mutation succeeded.",
    )
