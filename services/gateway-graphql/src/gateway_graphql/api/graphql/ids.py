"""Relay global IDs and connection cursors.

A global ID is ``base64("User:<snowflake>")`` (graphql-relay's encoding): opaque to clients, and a
string, never a GraphQL ``Int`` (snowflakes need 64 bits). A cursor is opaque too: the
user-service's page token plus an offset in that page (see ``PagePosition``).
"""

from __future__ import annotations

import base64
import binascii
import json

from graphql_relay import from_global_id, to_global_id

from alvin_python_lib.errors import InvalidArgument
from gateway_graphql.service.accounts import PagePosition

__all__ = [
    "USER_TYPE",
    "decode_cursor",
    "encode_cursor",
    "parse_global_id",
    "parse_user_id",
    "user_global_id",
]

USER_TYPE = "User"
# Snowflakes are positive signed 64-bit integers (the sign bit stays 0): PostgreSQL's bigint.
_MAX_ID = 2**63 - 1
_CURSOR_PREFIX = "c1:"


def user_global_id(user_id: int) -> str:
    """The global ID of a user."""
    return str(to_global_id(USER_TYPE, str(user_id)))


def parse_global_id(value: str, *, field: str = "id") -> tuple[str, int]:
    """(type name, snowflake id) of a global ID; InvalidArgument on ``field`` when malformed."""
    resolved = from_global_id(value)
    raw = resolved.id
    if resolved.type and raw.isascii() and raw.isdigit() and 0 < int(raw) <= _MAX_ID:
        return resolved.type, int(raw)
    raise InvalidArgument.for_field(field, "is not a valid global ID")


def parse_user_id(value: str, *, field: str = "id") -> int:
    """The snowflake of a ``User`` global ID; InvalidArgument on ``field`` otherwise."""
    type_name, user_id = parse_global_id(value, field=field)
    if type_name != USER_TYPE:
        raise InvalidArgument.for_field(field, "is not the ID of a User")
    return user_id


def encode_cursor(position: PagePosition) -> str:
    """An opaque cursor for a place in the user list."""
    text = json.dumps({"t": position.page_token, "s": position.skip}, separators=(",", ":"))
    return base64.urlsafe_b64encode((_CURSOR_PREFIX + text).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *, field: str = "after") -> PagePosition:
    """The place a cursor names; InvalidArgument on ``field`` when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith(_CURSOR_PREFIX):
            raise ValueError("not a cursor")
        data = json.loads(raw[len(_CURSOR_PREFIX) :])
        token, skip = data["t"], data["s"]
        if not isinstance(token, str) or not isinstance(skip, int) or isinstance(skip, bool):
            raise TypeError("bad cursor fields")
    except (binascii.Error, UnicodeDecodeError, ValueError, KeyError, TypeError):
        raise InvalidArgument.for_field(field, "is not a valid cursor") from None
    return PagePosition(page_token=token, skip=skip)
