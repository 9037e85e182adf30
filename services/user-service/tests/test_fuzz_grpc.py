"""gRPC fuzzing: every RPC gets random and boundary values in every request field, with
strategies generated from the message descriptors, through a real loopback server.

Nothing a caller sends may end in INTERNAL (or UNKNOWN): bad input is INVALID_ARGUMENT,
NOT_FOUND, ALREADY_EXISTS ... Examples are derandomized (a fixed seed) when CI=true.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from sqlalchemy.orm import Session
from support import DEFAULT_PASSWORD, MakeUser

from alvin_grpc.client import create_channel
from alvin_grpc.server import ServerSettings
from alvin_protos.alvin.user.v1 import user_service_pb2 as pb
from user_service.app.server import registration
from user_service.service import auth
from user_service.service.deps import Deps

TOKEN = "test-service-token"
SERVICE = pb.DESCRIPTOR.services_by_name["UserService"]
METHODS = [method.name for method in SERVICE.methods]
EXAMPLES_PER_METHOD = 100  # x 10 methods: about 20 s in all on 2 cores

# What a caller's input may cause. INTERNAL, UNKNOWN, DATA_LOSS ... mean a bug in the service.
EXPECTED = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
}

HOSTILE_TEXT = [
    "",
    " ",
    "\x00",
    "a\x00b@example.com",
    "' OR '1'='1",
    "'; DROP TABLE users; --",
    '" OR ""="',
    "%",
    "_",
    "\\",
    "$1",
    "user@example.com' --",
    "\ud7ff\ue000\U0010ffff",
    "🙂" * 50,
    "\u202e\u200b",
    "x" * 257,
    "x" * 10_000,
    "@",
    "a@b",
    "bWFsZm9ybWVk",  # base64 of "malformed": looks like a page token
]

FUZZ = settings(
    max_examples=EXAMPLES_PER_METHOD,
    derandomize=os.environ.get("CI") == "true",  # a fixed seed in CI
    database=None,  # no .hypothesis/ folder in the tree
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    print_blob=True,
)

_INT_BOUNDS = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}


def _integers(low: int, high: int, known: list[int]) -> st.SearchStrategy[int]:
    edges = {low, high, 0, 1, -1, 100, 101, 500, 501, 2**31 - 1, 2**31, 2**53 + 1, 2**63 - 1}
    edges |= {value + delta for value in known for delta in (-1, 0, 1)}
    in_range = sorted(value for value in edges if low <= value <= high)
    return st.one_of(st.sampled_from(in_range), st.integers(low, high))


def field_strategy(
    field: FieldDescriptor, known: dict[str, list[Any]], depth: int
) -> st.SearchStrategy[Any]:
    """Values for one (non-repeated) field: random, boundary and known-good ones."""
    kind = field.type
    if kind in _INT_BOUNDS:
        return _integers(*_INT_BOUNDS[kind], known["ids"])
    if kind == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if kind == FieldDescriptor.TYPE_STRING:
        return st.one_of(
            st.sampled_from(HOSTILE_TEXT + known["strings"]),
            st.emails(),
            st.text(min_size=10, max_size=40),  # a password or a display name that passes
            st.text(max_size=64),
            st.text(alphabet=st.characters(codec="utf-8"), min_size=200, max_size=600),
        )
    if kind == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=256)
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return st.floats(allow_nan=True, width=64 if kind == FieldDescriptor.TYPE_DOUBLE else 32)
    if kind == FieldDescriptor.TYPE_ENUM:
        numbers = [value.number for value in field.enum_type.values]
        return st.one_of(st.sampled_from(numbers), st.integers(-(2**31), 2**31 - 1))
    if kind == FieldDescriptor.TYPE_MESSAGE:
        return message_strategy(field.message_type, known, depth + 1)
    raise NotImplementedError(f"{field.full_name}: field type {kind}")


def message_strategy(
    descriptor: Descriptor, known: dict[str, list[Any]], depth: int = 0
) -> st.SearchStrategy[Message]:
    """A message with its fields drawn from ``field_strategy`` (those with presence maybe unset)."""
    cls = GetMessageClass(descriptor)
    if descriptor.full_name == "google.protobuf.FieldMask":
        paths = st.sampled_from(known["paths"]) | st.text(max_size=20)
        return st.builds(lambda p: cls(paths=p), st.lists(paths, max_size=6))
    fields: dict[str, st.SearchStrategy[Any]] = {}  # always set (zero values are drawn too)
    optional: dict[str, st.SearchStrategy[Any]] = {}  # fields with presence: set or not
    for field in descriptor.fields:
        if field.type == FieldDescriptor.TYPE_MESSAGE and depth >= 2:
            continue
        value = field_strategy(field, known, depth)
        if field.is_repeated:
            value = st.one_of(
                st.lists(value, max_size=8),
                st.lists(value, min_size=495, max_size=505) if depth == 0 else st.nothing(),
            )
        (optional if field.has_presence else fields)[field.name] = value
    return st.fixed_dictionaries(fields, optional=optional).map(lambda kwargs: cls(**kwargs))


@pytest.fixture
def server_address(db: Session, grpc_server_factory: Callable[..., Any], deps: Deps) -> str:
    settings_ = ServerSettings(grpc_service_token=SecretStr(TOKEN), grpc_grace_period_s=0)
    server, _ = grpc_server_factory([registration(deps)], settings_, database=deps.database)
    return str(server.address)


@pytest.fixture
def channel(server_address: str) -> Iterator[grpc.Channel]:
    channel = create_channel(server_address, token=TOKEN, default_timeout=10)
    yield channel
    channel.close()


@pytest.fixture
def known(db: Session, make_user: MakeUser, deps: Deps) -> dict[str, list[Any]]:
    """Real ids, emails and a session token, so that fuzzing also reaches the deeper paths."""
    alice = make_user(email="fuzz-alice@example.com")
    bob = make_user(email="fuzz-bob@example.com", invited_by_id=alice.id)
    token = auth.authenticate(deps, email=alice.email, password=DEFAULT_PASSWORD).token
    return {
        "ids": [alice.id, bob.id],
        "strings": [alice.email, bob.email, DEFAULT_PASSWORD, token, "127.0.0.1", "::1"],
        "paths": ["display_name", "email", "is_active", "id", "invited_by_id", "created_at"],
    }


@pytest.mark.parametrize("method", METHODS)
def test_no_request_is_an_internal_error(
    method: str, channel: grpc.Channel, known: dict[str, list[Any]]
) -> None:
    descriptor = SERVICE.methods_by_name[method]
    request_cls = GetMessageClass(descriptor.input_type)
    response_cls = GetMessageClass(descriptor.output_type)
    call = channel.unary_unary(
        f"/{SERVICE.full_name}/{method}",
        request_serializer=request_cls.SerializeToString,
        response_deserializer=response_cls.FromString,
    )
    seen: set[grpc.StatusCode] = set()

    @FUZZ
    @given(request=message_strategy(descriptor.input_type, known))
    def check(request: Message) -> None:
        code, details = grpc.StatusCode.OK, ""
        try:
            call(request, timeout=10)
        except grpc.RpcError as error:
            code, details = error.code(), error.details()
        assert code in EXPECTED, f"{method}({request!r:.500}) -> {code}: {details}"
        seen.add(code)

    check()
    assert seen, "no example ran"
