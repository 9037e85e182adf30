"""The domain exception hierarchy shared by every package of the kit.

Each error carries a machine-readable ``code`` (stable, upper snake case, the same words as the gRPC
status names so that transports can map them one to one) and a ``message`` that is safe to show to a
client: never put secrets, SQL or stack traces in it. Transports (gRPC, GraphQL) translate these
errors to their wire form; business code raises and catches only these.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

__all__ = [
    "AlreadyExists",
    "DomainError",
    "FailedPrecondition",
    "FieldViolation",
    "InvalidArgument",
    "NotFound",
    "PermissionDenied",
    "ResourceExhausted",
    "Unauthenticated",
    "Unavailable",
]


@dataclass(frozen=True)
class FieldViolation:
    """One invalid field: ``field`` is the input's field name (dotted for nested fields)."""

    field: str
    description: str


class DomainError(Exception):
    """Base class: an expected failure with a safe message and a stable code."""

    code: ClassVar[str] = "UNKNOWN"
    default_message: ClassVar[str] = "The request failed."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class NotFound(DomainError):
    """The requested entity does not exist (or the caller may not know that it does)."""

    code = "NOT_FOUND"
    default_message = "Not found."

    def __init__(
        self, message: str | None = None, *, entity: str | None = None, key: object = None
    ) -> None:
        self.entity = entity
        self.key = key
        if message is None and entity is not None:
            message = f"{entity} not found." if key is None else f"{entity} {key} not found."
        super().__init__(message)


class AlreadyExists(DomainError):
    """A unique value is taken; ``field`` names the input field that collided."""

    code = "ALREADY_EXISTS"
    default_message = "Already exists."

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        self.field = field
        if message is None and field is not None:
            message = f"{field} is already taken."
        super().__init__(message)


class InvalidArgument(DomainError):
    """The input is invalid; ``violations`` name each bad field."""

    code = "INVALID_ARGUMENT"
    default_message = "Invalid argument."

    def __init__(
        self, message: str | None = None, *, violations: Iterable[FieldViolation] = ()
    ) -> None:
        self.violations = tuple(violations)
        if message is None and self.violations:
            message = "; ".join(f"{v.field}: {v.description}" for v in self.violations)
        super().__init__(message)

    @classmethod
    def for_field(cls, field: str, description: str) -> InvalidArgument:
        """Shortcut for a single bad field."""
        return cls(violations=[FieldViolation(field, description)])


class PermissionDenied(DomainError):
    """The caller is known but may not do this."""

    code = "PERMISSION_DENIED"
    default_message = "Permission denied."


class Unauthenticated(DomainError):
    """The caller is not (or no longer) authenticated."""

    code = "UNAUTHENTICATED"
    default_message = "Authentication required."


class FailedPrecondition(DomainError):
    """The system is not in a state that allows this (e.g. the user is inactive)."""

    code = "FAILED_PRECONDITION"
    default_message = "Failed precondition."


class ResourceExhausted(DomainError):
    """Too many requests; ``retry_after`` (seconds) tells when to try again."""

    code = "RESOURCE_EXHAUSTED"
    default_message = "Too many requests; try again later."

    def __init__(self, message: str | None = None, *, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class Unavailable(DomainError):
    """A dependency is down or overloaded; the call may be retried."""

    code = "UNAVAILABLE"
    default_message = "Service unavailable; try again later."
