"""Test helpers: the ``alvin_grpc`` pytest plugin's fixtures and assertion helpers.

The plugin (entry point ``pytest11``, module :mod:`alvin_grpc.testing.plugin`) is loaded by pytest
wherever this package is installed; it imports grpc only when a fixture is used.

Fixture ``grpc_server_factory``::

    def test_echo(grpc_server_factory):
        server, channel = grpc_server_factory([registration], settings=None, database=db)
        ...

``settings`` default to ``ServerSettings()`` with host ``127.0.0.1`` and port ``0`` (a free port);
given settings keep everything but the host and port. Extra keyword arguments go to
:func:`~alvin_grpc.server.build_server`. The channel is a plain insecure channel (or a secure one
with ``channel_credentials=``); everything is stopped and closed at teardown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import grpc
    import pytest

__all__ = ["assert_rpc_error", "field_violations_of"]


def field_violations_of(error: grpc.RpcError) -> dict[str, str]:
    """``field -> description`` of the ``google.rpc.BadRequest`` detail of a failed call."""
    from alvin_grpc.errors import rpc_status_of, unpack_details  # noqa: PLC0415

    _, bad_request, _ = unpack_details(rpc_status_of(error))
    if bad_request is None:
        return {}
    return {v.field: v.description for v in bad_request.field_violations}


def assert_rpc_error(
    exc_info_or_callable: pytest.ExceptionInfo[Any] | grpc.RpcError | Callable[[], object],
    code: grpc.StatusCode,
    *,
    details: str | None = None,
    field_violations: Iterable[str] | Mapping[str, str] | None = None,
) -> grpc.RpcError:
    """Assert a call failed with ``code`` and return its ``grpc.RpcError``.

    ``exc_info_or_callable``: a ``pytest.raises`` result, the ``RpcError`` itself, or a callable
    that makes the call (it must raise). ``details``: a substring of the status message.
    ``field_violations``: the field names of the BadRequest detail (any order), or a mapping
    ``field -> description`` that must match exactly.
    """
    import grpc  # noqa: PLC0415

    target: Any = exc_info_or_callable
    if isinstance(target, grpc.RpcError):
        error = target
    elif hasattr(target, "value") and hasattr(target, "type"):  # pytest.ExceptionInfo
        error = target.value
    elif callable(target):
        try:
            target()
        except grpc.RpcError as raised:
            error = raised
        else:
            raise AssertionError(f"expected the call to fail with {code.name}; it succeeded")
    else:
        raise TypeError(f"not an RpcError, ExceptionInfo or callable: {target!r}")
    if not isinstance(error, grpc.RpcError):
        raise AssertionError(f"expected a grpc.RpcError, got {error!r}")

    actual = error.code()
    assert actual == code, f"expected {code.name}, got {actual.name}: {error.details()}"
    if details is not None:
        text = error.details() or ""
        assert details in text, f"expected {details!r} in the details {text!r}"
    if field_violations is not None:
        found = field_violations_of(error)
        if isinstance(field_violations, Mapping):
            assert found == dict(field_violations), f"field violations: {found}"
        else:
            assert set(found) == set(field_violations), f"field violations: {found}"
    return error
