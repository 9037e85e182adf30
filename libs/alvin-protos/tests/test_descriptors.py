"""What the descriptors promise: every RPC, its request/response names, its idempotency level."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.descriptor_pb2 import MethodOptions

import alvin_protos
from alvin_protos.alvin.user.v1 import user_service_pb2 as user_pb
from alvin_protos.alvin.user.v1 import user_service_pb2_grpc as user_grpc

SERVICE = user_pb.DESCRIPTOR.services_by_name["UserService"]

# Every RPC, in declaration order, with the idempotency level the kit's client reads to decide
# which calls may be retried (NO_SIDE_EFFECTS and IDEMPOTENT: yes; IDEMPOTENCY_UNKNOWN: never).
EXPECTED_RPCS = {
    "CreateUser": MethodOptions.IDEMPOTENCY_UNKNOWN,
    "GetUser": MethodOptions.NO_SIDE_EFFECTS,
    "BatchGetUsers": MethodOptions.NO_SIDE_EFFECTS,
    "ListUsers": MethodOptions.NO_SIDE_EFFECTS,
    "UpdateUser": MethodOptions.IDEMPOTENCY_UNKNOWN,
    "ChangePassword": MethodOptions.IDEMPOTENCY_UNKNOWN,
    "DeleteUser": MethodOptions.IDEMPOTENT,
    "Authenticate": MethodOptions.IDEMPOTENCY_UNKNOWN,
    "ValidateSession": MethodOptions.NO_SIDE_EFFECTS,
    "RevokeSession": MethodOptions.IDEMPOTENT,
    # each of these sends an email or spends a single-use token: never repeated by a retry
    "SignUp": MethodOptions.IDEMPOTENCY_UNKNOWN,
    "RequestPasswordReset": MethodOptions.IDEMPOTENCY_UNKNOWN,
    "ResetPassword": MethodOptions.IDEMPOTENCY_UNKNOWN,
    "VerifyEmail": MethodOptions.IDEMPOTENCY_UNKNOWN,
    "RequestEmailChange": MethodOptions.IDEMPOTENCY_UNKNOWN,
    "ListSessions": MethodOptions.NO_SIDE_EFFECTS,
    # a repeat answers NOT_FOUND (the session is gone): not safe to retry blindly
    "RevokeSessionById": MethodOptions.IDEMPOTENCY_UNKNOWN,
    "RevokeOtherSessions": MethodOptions.IDEMPOTENT,
    "DeactivateUser": MethodOptions.IDEMPOTENT,
    "ReactivateUser": MethodOptions.IDEMPOTENT,
    "AdminDeleteUser": MethodOptions.IDEMPOTENT,
}


def all_messages() -> list[Descriptor]:
    return list(user_pb.DESCRIPTOR.message_types_by_name.values())


def test_file_and_service_names() -> None:
    assert user_pb.DESCRIPTOR.name == "alvin/user/v1/user_service.proto"
    assert user_pb.DESCRIPTOR.package == "alvin.user.v1"
    assert SERVICE.full_name == "alvin.user.v1.UserService"
    # Only well-known types: nothing that needs a remote buf dependency.
    assert [dep.name for dep in user_pb.DESCRIPTOR.dependencies] == [
        "google/protobuf/field_mask.proto",
        "google/protobuf/timestamp.proto",
    ]


def test_service_lists_every_rpc_as_unary_with_standard_names() -> None:
    assert [method.name for method in SERVICE.methods] == list(EXPECTED_RPCS)
    for method in SERVICE.methods:
        assert method.input_type.full_name == f"alvin.user.v1.{method.name}Request"
        assert method.output_type.full_name == f"alvin.user.v1.{method.name}Response"
        assert not method.client_streaming
        assert not method.server_streaming


@pytest.mark.parametrize(("rpc", "level"), EXPECTED_RPCS.items())
def test_idempotency_levels(rpc: str, level: int) -> None:
    options = SERVICE.methods_by_name[rpc].GetOptions()
    assert options.idempotency_level == level
    assert options.HasField("idempotency_level") == (level != MethodOptions.IDEMPOTENCY_UNKNOWN)


def test_retryable_rpcs() -> None:
    retryable = {
        method.name
        for method in SERVICE.methods
        if method.GetOptions().idempotency_level
        in (MethodOptions.NO_SIDE_EFFECTS, MethodOptions.IDEMPOTENT)
    }
    assert retryable == {
        "GetUser",
        "BatchGetUsers",
        "ListUsers",
        "ValidateSession",
        "DeleteUser",
        "RevokeSession",
        "ListSessions",
        "RevokeOtherSessions",
        "DeactivateUser",
        "ReactivateUser",
        "AdminDeleteUser",
    }


def test_user_message_fields() -> None:
    fields = {field.name: field for field in user_pb.User.DESCRIPTOR.fields}
    assert list(fields) == [
        "id",
        "email",
        "display_name",
        "invited_by_id",
        "is_active",
        "created_at",
        "updated_at",
        "last_login_at",
        "admin",
        "email_verified",
    ]
    assert fields["invited_by_id"].has_presence
    assert fields["last_login_at"].has_presence
    assert not fields["is_active"].has_presence


def test_every_id_is_uint64_and_every_time_a_timestamp() -> None:
    checked = 0
    for message in all_messages():
        for field in message.fields:
            if field.name in ("id", "ids") or field.name.endswith(("_id", "_ids")):
                assert field.type == FieldDescriptor.TYPE_UINT64, f"{message.name}.{field.name}"
                checked += 1
            if field.name.endswith("_at"):
                assert field.message_type is not None, f"{message.name}.{field.name}"
                assert field.message_type.full_name == "google.protobuf.Timestamp"
                checked += 1
    assert checked >= 10


def test_update_mask_is_a_field_mask() -> None:
    field = user_pb.UpdateUserRequest.DESCRIPTOR.fields_by_name["update_mask"]
    assert field.message_type is not None
    assert field.message_type.full_name == "google.protobuf.FieldMask"


def test_grpc_module_has_stub_servicer_and_registration() -> None:
    for rpc in EXPECTED_RPCS:
        assert callable(getattr(user_grpc.UserServiceServicer, rpc))
    assert callable(user_grpc.add_UserServiceServicer_to_server)
    assert set(vars(user_grpc.UserServiceStub).keys()) >= {"__init__"}


def test_generated_layout_imports_without_a_top_level_alvin_package() -> None:
    package_dir = Path(alvin_protos.__file__).parent
    assert (package_dir / "py.typed").is_file()
    generated = [
        info.name
        for info in pkgutil.walk_packages(alvin_protos.__path__, "alvin_protos.")
        if not info.ispkg
    ]
    assert "alvin_protos.alvin.user.v1.user_service_pb2" in generated
    assert "alvin_protos.alvin.user.v1.user_service_pb2_grpc" in generated
    for name in generated:
        module = importlib.import_module(name)
        assert module.__file__ is not None
        assert Path(module.__file__).with_suffix(".pyi").is_file(), f"{name} has no type stub"
    # The generated imports were qualified: importing everything never needed a package `alvin`.
    assert "alvin" not in sys.modules
