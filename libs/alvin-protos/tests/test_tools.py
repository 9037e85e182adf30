"""The generation tools: the import fix-up (on a real two-file proto package) and the gRPC plugin."""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from google.protobuf import descriptor_pb2, field_mask_pb2, timestamp_pb2
from google.protobuf.compiler import plugin_pb2

from alvin_protos.alvin.user.v1 import user_service_pb2 as user_pb

TOOLS = Path(__file__).resolve().parents[1] / "tools"


@pytest.fixture(scope="module")
def generate() -> ModuleType:
    spec = importlib.util.spec_from_file_location("alvin_protos_generate", TOOLS / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_qualify_rewrites_only_generated_packages(generate: ModuleType) -> None:
    text = "\n".join(
        [
            "from google.protobuf import timestamp_pb2 as _timestamp_pb2",
            "from alvin.user.v1 import user_pb2 as alvin_dot_user_dot_v1_dot_user__pb2",
            "import alvin.user.v1.user_pb2 as _user_pb2",
            "import grpc as _grpc",
            "_builder.BuildTopDescriptorsAndMessages(DESCRIPTOR, 'alvin.user.v1.x_pb2', _globals)",
            '"""A docstring that mentions alvin.user.v1 stays as it is."""',
        ]
    )

    fixed = generate.qualify(text, {"alvin"}, "pkg").splitlines()

    assert fixed == [
        "from google.protobuf import timestamp_pb2 as _timestamp_pb2",
        "from pkg.alvin.user.v1 import user_pb2 as alvin_dot_user_dot_v1_dot_user__pb2",
        "import pkg.alvin.user.v1.user_pb2 as _user_pb2",
        "import grpc as _grpc",
        "_builder.BuildTopDescriptorsAndMessages(DESCRIPTOR, 'pkg.alvin.user.v1.x_pb2', _globals)",
        '"""A docstring that mentions alvin.user.v1 stays as it is."""',
    ]


def test_fix_up_rejects_an_import_it_cannot_qualify(generate: ModuleType, tmp_path: Path) -> None:
    module = tmp_path / "pkg" / "acme" / "x_pb2.pyi"
    module.parent.mkdir(parents=True)
    module.write_text("import acme.y_pb2\nvalue: acme.y_pb2.Y\n")

    with pytest.raises(SystemExit, match=r"x_pb2.pyi:1: acme.y_pb2"):
        generate.fix_up(tmp_path / "pkg")


PROTOS = {
    "acme/shop/v1/item.proto": """
        syntax = "proto3";
        package acme.shop.v1;
        import "google/protobuf/timestamp.proto";
        message Item { uint64 id = 1; google.protobuf.Timestamp added_at = 2; }
    """,
    "acme/shop/v1/cart_service.proto": """
        syntax = "proto3";
        package acme.shop.v1;
        import "acme/shop/v1/item.proto";
        service CartService { rpc GetCart(GetCartRequest) returns (GetCartResponse); }
        message GetCartRequest { uint64 id = 1; }
        message GetCartResponse { repeated Item items = 1; }
    """,
}


def test_fix_up_makes_cross_file_imports_resolve_inside_the_package(
    generate: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from grpc_tools import protoc

    proto_root = tmp_path / "proto"
    for name, text in PROTOS.items():
        (proto_root / name).parent.mkdir(parents=True, exist_ok=True)
        (proto_root / name).write_text(text)
    package_dir = tmp_path / "src" / "shop_protos_under_test"
    package_dir.mkdir(parents=True)
    (package_dir / "__init__.py").write_text("")
    include = Path(protoc.__file__).parent / "_proto"
    argv = [
        "protoc",
        f"-I{proto_root}",
        f"-I{include}",
        f"--python_out={package_dir}",
        f"--grpc_python_out={package_dir}",
        *PROTOS,
    ]
    assert protoc.main(argv) == 0
    generated = (package_dir / "acme/shop/v1/cart_service_pb2.py").read_text()
    assert "from acme.shop.v1 import item_pb2" in generated  # protoc's path-based import

    generate.fix_up(package_dir)

    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    cart = importlib.import_module("shop_protos_under_test.acme.shop.v1.cart_service_pb2")
    cart_grpc = importlib.import_module("shop_protos_under_test.acme.shop.v1.cart_service_pb2_grpc")
    response = cart.GetCartResponse(items=[{"id": 2**64 - 1}])
    assert cart.GetCartResponse.FromString(response.SerializeToString()) == response
    assert type(response.items[0]).__module__ == "shop_protos_under_test.acme.shop.v1.item_pb2"
    assert hasattr(cart_grpc, "CartServiceStub")
    assert "acme" not in sys.modules
    assert (package_dir / "acme" / "shop" / "v1" / "__init__.py").is_file()


def test_grpc_python_plugin_answers_a_code_generator_request() -> None:
    request = plugin_pb2.CodeGeneratorRequest(file_to_generate=[user_pb.DESCRIPTOR.name])
    for module in (field_mask_pb2, timestamp_pb2, user_pb):
        module.DESCRIPTOR.CopyToProto(request.proto_file.add())

    result = subprocess.run(
        [sys.executable, str(TOOLS / "protoc_gen_grpc_python.py")],
        input=request.SerializeToString(),
        capture_output=True,
        check=True,
    )

    response = plugin_pb2.CodeGeneratorResponse.FromString(result.stdout)
    assert not response.error
    assert response.supported_features & plugin_pb2.CodeGeneratorResponse.FEATURE_PROTO3_OPTIONAL
    [generated] = response.file
    assert generated.name == "alvin/user/v1/user_service_pb2_grpc.py"
    assert "class UserServiceServicer" in generated.content
    assert "'/alvin.user.v1.UserService/ValidateSession'" in generated.content
    assert "from alvin.user.v1 import user_service_pb2" in generated.content


def test_descriptor_set_of_the_request_is_complete() -> None:
    # The plugin hands protoc every file of the request, dependencies included.
    files = descriptor_pb2.FileDescriptorSet()
    user_pb.DESCRIPTOR.CopyToProto(files.file.add())
    assert list(files.file[0].dependency) == [
        "google/protobuf/field_mask.proto",
        "google/protobuf/timestamp.proto",
    ]
