"""Input rules shared by the use cases: emails, display names, passwords."""

from __future__ import annotations

import unicodedata

from email_validator import EmailNotValidError, validate_email

from alvin_python_lib.errors import FieldViolation

MAX_EMAIL_LENGTH = 254
MAX_DISPLAY_NAME_LENGTH = 100
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256

# A short built-in list; a production deployment may add a larger one (e.g. a breached-password API).
COMMON_PASSWORDS = frozenset(
    [
        "1234567890",
        "12345678910",
        "0123456789",
        "1111111111",
        "0000000000",
        "1q2w3e4r5t",
        "qwertyuiop",
        "asdfghjkl1",
        "password12",
        "password123",
        "password1234",
        "passw0rd12",
        "p@ssword12",
        "p@ssw0rd123",
        "iloveyou12",
        "iloveyou123",
        "qwerty1234",
        "qwerty12345",
        "qwertyuiop1",
        "abc1234567",
        "abcdefghij",
        "letmein123",
        "welcome123",
        "welcome1234",
        "monkey1234",
        "dragon1234",
        "football12",
        "baseball12",
        "sunshine12",
        "princess12",
        "trustno1234",
        "superman12",
        "administrator",
        "admin12345",
        "changeme12",
        "changeme123",
        "starwars12",
        "whatever12",
        "zaq12wsxcde",
        "1qaz2wsx3edc",
        "qazwsxedc123",
        "123qweasdzxc",
        "michael123",
        "jennifer12",
        "computer12",
        "internet12",
    ]
)


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
    if password.lower() in COMMON_PASSWORDS:
        return [FieldViolation(field, "is too common")]
    return []
