"""Domain exceptions <-> gRPC status codes with ``google.rpc.Status`` details, both ways.

Server side, :func:`to_rpc_status` turns an :class:`~alvin_python_lib.errors.DomainError` into a
``google.rpc.Status`` whose details carry:

- ``google.rpc.ErrorInfo``: ``reason`` is the exception's ``code`` (``NOT_FOUND``, or a subclass's own
  code), ``domain`` the configured error domain (``"alvin"``), ``metadata`` the structured fields
  (``field`` for AlreadyExists, ``entity`` and ``key`` for NotFound);
- ``google.rpc.BadRequest`` with one field violation per ``InvalidArgument.violations`` item;
- ``google.rpc.RetryInfo`` with ``ResourceExhausted.retry_after``.

Client side, :func:`from_rpc_error` rebuilds the same exception class with the same message, field
violations, ``field``, ``entity``/``key`` (the key comes back as a string) and ``retry_after``.

Status codes with no domain class of their own are mapped like this (a deliberate choice):

- ``DEADLINE_EXCEEDED``, ``UNAVAILABLE``, ``ABORTED``, ``CANCELLED`` -> ``Unavailable``: the call
  may be retried later. The message is generic unless the server sent a rich status (transport
  texts such as "failed to connect to all addresses" stay out).
- ``OUT_OF_RANGE`` -> ``InvalidArgument`` (with the server's message).
- ``UNKNOWN``, ``INTERNAL``, ``UNIMPLEMENTED``, ``DATA_LOSS`` -> :class:`InternalError` (a
  ``DomainError`` with code ``INTERNAL``) and a generic message: a server bug or a contract
  mismatch, which retrying would not fix; not ``Unavailable``, so that callers do not retry it and
  gateways report it as an internal error. The server's text is never passed on.

A plain ``DomainError`` (no subclass) raised by a handler travels as ``UNKNOWN`` with its (safe)
message and comes back as ``DomainError``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import NoReturn, cast

import grpc
from google.protobuf import duration_pb2

# googleapis-common-protos ships .pyi files but no py.typed marker: mypy cannot use them.
from google.rpc import (  # type: ignore[import-untyped]
    code_pb2,
    error_details_pb2,
    status_pb2,
)
from grpc_status import rpc_status

from alvin_python_lib.errors import (
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)

__all__ = [
    "DEFAULT_ERROR_DOMAIN",
    "INTERNAL_MESSAGE",
    "STATUS_CODES",
    "InternalError",
    "abort_with_error",
    "abort_with_status",
    "error_class_for",
    "from_rpc_error",
    "internal_rpc_status",
    "rpc_status_of",
    "status_code_for",
    "to_grpc_status",
    "to_rpc_status",
    "unpack_details",
]

_log = logging.getLogger(__name__)

DEFAULT_ERROR_DOMAIN = "alvin"
INTERNAL_MESSAGE = "Internal error."
STATUS_DETAILS_KEY = "grpc-status-details-bin"


class InternalError(DomainError):
    """The remote service failed (``UNKNOWN``, ``INTERNAL``, ``UNIMPLEMENTED``, ``DATA_LOSS``)."""

    code = "INTERNAL"
    default_message = "The remote service failed."


# Domain class -> status code; subclasses inherit their base's code (looked up along the MRO).
STATUS_CODES: Mapping[type[DomainError], grpc.StatusCode] = {
    NotFound: grpc.StatusCode.NOT_FOUND,
    AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Unavailable: grpc.StatusCode.UNAVAILABLE,
    InternalError: grpc.StatusCode.INTERNAL,
    DomainError: grpc.StatusCode.UNKNOWN,
}

_CLASS_BY_CODE: Mapping[grpc.StatusCode, type[DomainError]] = {
    **{code: cls for cls, code in STATUS_CODES.items()},
    grpc.StatusCode.DEADLINE_EXCEEDED: Unavailable,
    grpc.StatusCode.ABORTED: Unavailable,
    grpc.StatusCode.CANCELLED: Unavailable,
    grpc.StatusCode.OUT_OF_RANGE: InvalidArgument,
    grpc.StatusCode.UNKNOWN: InternalError,
    grpc.StatusCode.UNIMPLEMENTED: InternalError,
    grpc.StatusCode.DATA_LOSS: InternalError,
}

# Codes whose details text is not shown unless the server sent a rich status (transport messages
# such as "failed to connect to all addresses" or "Exception calling application: ..." stay out).
_GENERIC_MESSAGE_CODES = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.DATA_LOSS,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.ABORTED,
    }
)
_GENERIC_MESSAGES: Mapping[grpc.StatusCode, str] = {
    grpc.StatusCode.DEADLINE_EXCEEDED: "The remote service did not answer in time.",
    grpc.StatusCode.CANCELLED: "The call was cancelled.",
}


def status_code_for(error: DomainError) -> grpc.StatusCode:
    """The gRPC status code of ``error`` (its class or the nearest mapped base class)."""
    return STATUS_CODES[error_class_for(type(error))]


def error_class_for(cls: type[DomainError]) -> type[DomainError]:
    """The nearest class of ``cls``'s MRO that has a status code of its own."""
    for base in cls.__mro__:
        if base in STATUS_CODES:
            return base
    return DomainError  # unreachable for DomainError subclasses


def _duration(seconds: float) -> duration_pb2.Duration:
    whole = int(seconds)
    return duration_pb2.Duration(seconds=whole, nanos=round((seconds - whole) * 1e9))


def to_rpc_status(error: DomainError, *, domain: str = DEFAULT_ERROR_DOMAIN) -> status_pb2.Status:
    """A ``google.rpc.Status`` for ``error``: code, message and the details listed above."""
    code = status_code_for(error)
    metadata: dict[str, str] = {}
    if isinstance(error, AlreadyExists) and error.field is not None:
        metadata["field"] = error.field
    if isinstance(error, NotFound):
        if error.entity is not None:
            metadata["entity"] = error.entity
        if error.key is not None:
            metadata["key"] = str(error.key)
    status = status_pb2.Status(code=code.value[0], message=error.message)
    info = error_details_pb2.ErrorInfo(reason=error.code, domain=domain, metadata=metadata)
    status.details.add().Pack(info)
    if isinstance(error, InvalidArgument) and error.violations:
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=v.field, description=v.description
                )
                for v in error.violations
            ]
        )
        status.details.add().Pack(bad_request)
    if isinstance(error, ResourceExhausted) and error.retry_after is not None:
        retry = error_details_pb2.RetryInfo(retry_delay=_duration(error.retry_after))
        status.details.add().Pack(retry)
    return status


def internal_rpc_status(message: str = INTERNAL_MESSAGE) -> status_pb2.Status:
    """The status sent for an unexpected exception: INTERNAL, a generic message, no details."""
    return status_pb2.Status(code=code_pb2.INTERNAL, message=message)


def to_grpc_status(error: DomainError, *, domain: str = DEFAULT_ERROR_DOMAIN) -> grpc.Status:
    """:func:`to_rpc_status` as a ``grpc.Status`` (for ``context.abort_with_status``)."""
    return rpc_status.to_status(to_rpc_status(error, domain=domain))


def abort_with_status(context: grpc.ServicerContext, status: status_pb2.Status) -> NoReturn:
    """Abort the RPC with ``status``, keeping the trailing metadata already set on ``context``.

    (``context.abort_with_status`` replaces the trailing metadata; this adds to it.)
    """
    grpc_status = rpc_status.to_status(status)
    existing = tuple(
        (key, value)
        for key, value in (_trailing_metadata(context) or ())
        if key != STATUS_DETAILS_KEY
    )
    context.set_trailing_metadata(existing + tuple(grpc_status.trailing_metadata))
    context.abort(grpc_status.code, grpc_status.details)


def abort_with_error(
    context: grpc.ServicerContext, error: DomainError, *, domain: str = DEFAULT_ERROR_DOMAIN
) -> NoReturn:
    """Abort the RPC with the status of ``error`` (see :func:`to_rpc_status`)."""
    abort_with_status(context, to_rpc_status(error, domain=domain))


def _trailing_metadata(context: grpc.ServicerContext) -> tuple[tuple[str, str | bytes], ...]:
    getter = getattr(context, "trailing_metadata", None)
    value = getter() if callable(getter) else None
    return tuple(value) if value else ()


def rpc_status_of(error: grpc.RpcError) -> status_pb2.Status | None:
    """The ``google.rpc.Status`` a failed call carried, or None (plain status, or inconsistent)."""
    # The RpcError of a finished call is also its grpc.Call (the stubs cannot say so).
    if not callable(getattr(error, "trailing_metadata", None)):
        return None
    try:
        status = rpc_status.from_call(cast(grpc.Call, error))
    except ValueError:  # the details do not match the call's code or message
        _log.debug("ignoring inconsistent grpc-status-details-bin", exc_info=True)
        return None
    return cast("status_pb2.Status | None", status)


def unpack_details(
    status: status_pb2.Status | None,
) -> tuple[
    error_details_pb2.ErrorInfo | None,
    error_details_pb2.BadRequest | None,
    error_details_pb2.RetryInfo | None,
]:
    """The (ErrorInfo, BadRequest, RetryInfo) details of ``status``, each None when absent."""
    info = bad_request = retry = None
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
    return info, bad_request, retry


def from_rpc_error(
    error: grpc.RpcError, *, error_classes: Iterable[type[DomainError]] = ()
) -> DomainError:
    """The domain exception for a failed call (see the table in the module docstring).

    ``error_classes`` are a service's own ``DomainError`` subclasses: one whose ``code`` equals the
    ``ErrorInfo.reason`` (and whose base maps to the same status code) is raised instead of the
    base class; it must accept the same keyword arguments as its base.
    """
    code = error.code() if callable(getattr(error, "code", None)) else grpc.StatusCode.UNKNOWN
    details = error.details() if callable(getattr(error, "details", None)) else None
    status = rpc_status_of(error)
    info, bad_request, retry = unpack_details(status)

    if code is grpc.StatusCode.UNKNOWN and info is not None:
        base: type[DomainError] = DomainError  # a DomainError raised as such, or a direct subclass
    else:
        base = _CLASS_BY_CODE.get(code, InternalError)
    cls: type[DomainError] = base
    if info is not None:
        for candidate in (*error_classes, *STATUS_CODES):
            if candidate.code == info.reason and error_class_for(candidate) is base:
                cls = candidate
                break

    if info is None and code in _GENERIC_MESSAGE_CODES:
        message: str | None = _GENERIC_MESSAGES.get(code)  # None: the class's default message
    else:
        message = details or None

    metadata = dict(info.metadata) if info is not None else {}
    try:
        return _build(
            cls, base=base, message=message, metadata=metadata, details=(bad_request, retry)
        )
    except TypeError:  # a service subclass with another constructor: fall back to its base
        return _build(
            base, base=base, message=message, metadata=metadata, details=(bad_request, retry)
        )


def _build(
    cls: type[DomainError],
    *,
    base: type[DomainError],
    message: str | None,
    metadata: Mapping[str, str],
    details: tuple[error_details_pb2.BadRequest | None, error_details_pb2.RetryInfo | None],
) -> DomainError:
    bad_request, retry = details
    if base is InvalidArgument:
        violations = [
            FieldViolation(v.field, v.description)
            for v in (bad_request.field_violations if bad_request is not None else ())
        ]
        return cls(message, violations=violations)  # type: ignore[call-arg]
    if base is AlreadyExists:
        return cls(message, field=metadata.get("field"))  # type: ignore[call-arg]
    if base is NotFound:
        return cls(message, entity=metadata.get("entity"), key=metadata.get("key"))  # type: ignore[call-arg]
    if base is ResourceExhausted:
        retry_after = None
        if retry is not None and retry.HasField("retry_delay"):
            retry_after = retry.retry_delay.seconds + retry.retry_delay.nanos / 1e9
        return cls(message, retry_after=retry_after)  # type: ignore[call-arg]
    return cls(message)
