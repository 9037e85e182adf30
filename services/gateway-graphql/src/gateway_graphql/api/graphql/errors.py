"""Errors on the wire: every GraphQL error carries ``extensions.code``.

Domain exceptions (raised by the service layer, or rebuilt by the remote client from the
user-service's gRPC status) map to codes as follows:

=====================================================  ==================
``NotFound``                                           ``NOT_FOUND``
``Unauthenticated``                                    ``UNAUTHENTICATED``
``PermissionDenied``                                   ``FORBIDDEN``
``InvalidArgument``, ``AlreadyExists``,
``FailedPrecondition``                                 ``BAD_USER_INPUT``
``ResourceExhausted``                                  ``RATE_LIMITED``
``Unavailable`` (also deadlines, connection failures)  ``UNAVAILABLE``
anything else (``InternalError``, bugs)                ``INTERNAL``
=====================================================  ==================

The document itself: ``GRAPHQL_PARSE_FAILED`` (syntax, too many tokens) and
``GRAPHQL_VALIDATION_FAILED`` (unknown fields, limits, introspection when it is off).
``INTERNAL`` errors never carry details: the message is generic, the exception and its traceback
go to the log with the request id, and ``extensions.requestId`` lets support find that line.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError

from alvin_python_lib.errors import (
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)
from alvin_python_lib.logging import get_logger, get_request_id

__all__ = [
    "BAD_USER_INPUT",
    "CODES",
    "FORBIDDEN",
    "INTERNAL",
    "INTERNAL_MESSAGE",
    "NOT_FOUND",
    "PARSE_FAILED",
    "RATE_LIMITED",
    "UNAUTHENTICATED",
    "UNAVAILABLE",
    "VALIDATION_FAILED",
    "code_for",
    "format_error",
    "format_errors",
    "graphql_field_name",
]

NOT_FOUND = "NOT_FOUND"
UNAUTHENTICATED = "UNAUTHENTICATED"
FORBIDDEN = "FORBIDDEN"
BAD_USER_INPUT = "BAD_USER_INPUT"
RATE_LIMITED = "RATE_LIMITED"
UNAVAILABLE = "UNAVAILABLE"
INTERNAL = "INTERNAL"
PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"

CODES = (
    NOT_FOUND,
    UNAUTHENTICATED,
    FORBIDDEN,
    BAD_USER_INPUT,
    RATE_LIMITED,
    UNAVAILABLE,
    INTERNAL,
    PARSE_FAILED,
    VALIDATION_FAILED,
)

INTERNAL_MESSAGE = "Internal server error."

_CODES: tuple[tuple[type[DomainError], str], ...] = (
    (NotFound, NOT_FOUND),
    (Unauthenticated, UNAUTHENTICATED),
    (PermissionDenied, FORBIDDEN),
    (InvalidArgument, BAD_USER_INPUT),
    (AlreadyExists, BAD_USER_INPUT),
    (FailedPrecondition, BAD_USER_INPUT),
    (ResourceExhausted, RATE_LIMITED),
    (Unavailable, UNAVAILABLE),
)

_log = get_logger("gateway_graphql.graphql")


class _Quiet:
    """Stands in for the logger when an exception was already logged for this response."""

    def error(self, *_: Any, **__: Any) -> None:
        return None

    def warning(self, *_: Any, **__: Any) -> None:
        return None


_quiet = _Quiet()


def code_for(error: BaseException) -> str:
    """The ``extensions.code`` of an exception raised while resolving a field."""
    if isinstance(error, DomainError):
        for cls, code in _CODES:
            if isinstance(error, cls):
                return code
    return INTERNAL


def graphql_field_name(name: str) -> str | None:
    """The GraphQL spelling of a user-service field name (``display_name`` -> ``displayName``);
    None for an empty name (an error about the whole input)."""
    if not name:
        return None
    head, *rest = name.rsplit(".", maxsplit=1)[-1].split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _domain_extensions(error: DomainError) -> dict[str, Any]:
    extensions: dict[str, Any] = {}
    if isinstance(error, InvalidArgument) and error.violations:
        extensions["violations"] = [
            {"field": graphql_field_name(v.field), "message": v.description}
            for v in error.violations
        ]
    elif isinstance(error, AlreadyExists) and error.field:
        extensions["field"] = graphql_field_name(error.field)
    elif isinstance(error, ResourceExhausted) and error.retry_after is not None:
        extensions["retryAfter"] = round(error.retry_after, 3)
    return extensions


def _path(error: GraphQLError) -> str | None:
    return ".".join(str(part) for part in error.path) if error.path else None


def format_errors(errors: list[GraphQLError]) -> list[dict[str, Any]]:
    """:func:`format_error` for a response's errors; each exception is logged once (a failed
    batch fails every field that waited for it, with the same exception)."""
    logged: set[int] = set()
    return [format_error(error, logged=logged) for error in errors]


def format_error(error: GraphQLError, *, logged: set[int] | None = None) -> dict[str, Any]:
    """The JSON form of ``error`` with its code; logs what must not reach the client.

    ``logged`` collects the ids of the exceptions already logged for this response.
    """
    formatted: dict[str, Any] = dict(error.formatted)
    extensions: dict[str, Any] = dict(error.extensions or {})
    original = error.original_error
    seen = logged if logged is not None else set()
    first = original is None or id(original) not in seen
    if original is not None:
        seen.add(id(original))
    log = _log if first else _quiet
    code: str
    if original is None or isinstance(original, GraphQLError):
        code = str(extensions.get("code") or "")
        if not code:
            # Errors outside resolvers without a code of ours: bad variables or operation name
            # (no path), or a non-null field that resolved to null (a bug, with a path).
            code = INTERNAL if error.path else BAD_USER_INPUT
        if code == INTERNAL:
            log.error("graphql.internal_error", path=_path(error), error=error.message)
    elif isinstance(original, DomainError):
        code = code_for(original)
        if code == INTERNAL:
            log.error(
                "graphql.remote_internal_error",
                path=_path(error),
                error_class=type(original).__name__,
                exc_info=original,
            )
        else:
            formatted["message"] = original.message
            extensions.update(_domain_extensions(original))
            if code == UNAVAILABLE:
                log.warning("graphql.dependency_unavailable", path=_path(error))
    else:
        code = INTERNAL
        log.error(
            "graphql.unexpected_error",
            path=_path(error),
            error_class=type(original).__name__,
            exc_info=original,
        )
    if code == INTERNAL:
        formatted["message"] = INTERNAL_MESSAGE
        extensions = {"requestId": get_request_id()}
    extensions["code"] = code
    formatted["extensions"] = extensions
    return formatted
