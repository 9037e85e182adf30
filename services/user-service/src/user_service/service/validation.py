"""Input rules shared by the use cases: emails, display names, passwords."""

from __future__ import annotations

import string
import unicodedata
from functools import cache

from email_validator import EmailNotValidError, validate_email

from alvin_python_lib.errors import FieldViolation

MAX_EMAIL_LENGTH = 254
MAX_DISPLAY_NAME_LENGTH = 100
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256

# A common password with digits or symbols appended ("sunshine2026!") is one of the first guesses
# that cracking rules make: the check also looks the password up without them.
_APPENDED = string.digits + string.punctuation + " "


@cache
def common_passwords() -> frozenset[str]:
    """The 30,000 most common passwords of zxcvbn's frequency lists (lower case), loaded on the
    first check of the process and kept: a set, so each check is one or two hash lookups."""
    # Once per process: about 0.2 s and 17 MiB (the set is 4 MiB; importing zxcvbn also builds
    # its matchers' dictionaries). zxcvbn ships no type information.
    from zxcvbn.frequency_lists import (  # type: ignore[import-untyped]  # noqa: PLC0415
        FREQUENCY_LISTS,
    )

    return frozenset(password.lower() for password in FREQUENCY_LISTS["passwords"])


def is_common_password(password: str) -> bool:
    """Whether ``password`` (case ignored) is a common password, or one with digits or symbols
    appended."""
    known = common_passwords()
    lowered = password.lower()
    if lowered in known:
        return True
    stem = lowered.rstrip(_APPENDED)
    return bool(stem) and stem != lowered and stem in known


def normalize_email(raw: str, field: str = "email") -> tuple[str, list[FieldViolation]]:
    """Trim, validate and lower-case an email; returns it and any violation."""
    value = raw.strip()
    if not value:
        return value, [FieldViolation(field, "is required")]
    if len(value) > MAX_EMAIL_LENGTH:
        return value, [FieldViolation(field, f"must be at most {MAX_EMAIL_LENGTH} characters")]
    try:
        checked = validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return value, [FieldViolation(field, "is not a valid email address")]
    return checked.normalized.lower(), []


def clean_display_name(raw: str, field: str = "display_name") -> tuple[str, list[FieldViolation]]:
    """Normalise (NFC, trimmed) and check a display name."""
    value = unicodedata.normalize("NFC", raw).strip()
    if not value:
        return value, [FieldViolation(field, "is required")]
    if len(value) > MAX_DISPLAY_NAME_LENGTH:
        return value, [
            FieldViolation(field, f"must be at most {MAX_DISPLAY_NAME_LENGTH} characters")
        ]
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in value):
        return value, [FieldViolation(field, "must not contain control characters")]
    return value, []


def password_violations(password: str, email: str, field: str = "password") -> list[FieldViolation]:
    """The password policy: 10..256 characters, not the email, not a common password."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return [FieldViolation(field, f"must be at least {MIN_PASSWORD_LENGTH} characters")]
    if len(password) > MAX_PASSWORD_LENGTH:
        return [FieldViolation(field, f"must be at most {MAX_PASSWORD_LENGTH} characters")]
    if email and password.strip().lower() == email.strip().lower():
        return [FieldViolation(field, "must not be the email address")]
    if is_common_password(password):
        return [FieldViolation(field, "is too common")]
    return []
