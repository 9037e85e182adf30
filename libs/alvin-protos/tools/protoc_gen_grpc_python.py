"""protoc plugin that runs grpc_tools' built-in grpc_python generator (``*_pb2_grpc.py``).

grpcio-tools ships the generator inside its bundled protoc only, not as a ``protoc-gen-grpc_python``
executable, so buf cannot call it directly. This plugin reads the CodeGeneratorRequest that buf sends,
hands its file descriptors to grpc_tools' protoc (``--descriptor_set_in``), and answers with the files
the generator wrote. buf.gen.yaml calls it as ``local: ["python", "<this file>"]``; the plugin option
string (``opt:``) is passed through to the generator.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from google.protobuf import descriptor_pb2
from google.protobuf.compiler import plugin_pb2
from grpc_tools import protoc


def _run_protoc(argv: list[str]) -> int:
    """grpc_tools' protoc, in-process, with its file descriptor 1 pointed at stderr.

    Standard output carries this plugin's answer to buf: nothing protoc prints may land there.
    """
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        return int(protoc.main(argv))
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def generate(request: plugin_pb2.CodeGeneratorRequest) -> plugin_pb2.CodeGeneratorResponse:
    response = plugin_pb2.CodeGeneratorResponse(
        supported_features=plugin_pb2.CodeGeneratorResponse.FEATURE_PROTO3_OPTIONAL
    )
    with tempfile.TemporaryDirectory(prefix="protoc-gen-grpc_python-") as tmp:
        descriptor_set = Path(tmp, "request.binpb")
        files = descriptor_pb2.FileDescriptorSet(file=request.proto_file)
        descriptor_set.write_bytes(files.SerializeToString())
        out = Path(tmp, "out")
        out.mkdir()
        options = f"{request.parameter}:" if request.parameter else ""
        argv = [
            "grpc_tools.protoc",
            f"--descriptor_set_in={descriptor_set}",
            f"--grpc_python_out={options}{out}",
            *request.file_to_generate,
        ]
        if _run_protoc(argv) != 0:
            response.error = "grpc_tools.protoc failed (its message is above)"
            return response
        for path in sorted(p for p in out.rglob("*") if p.is_file()):
            response.file.add(
                name=path.relative_to(out).as_posix(), content=path.read_text(encoding="utf-8")
            )
    return response


def main() -> None:
    request = plugin_pb2.CodeGeneratorRequest.FromString(sys.stdin.buffer.read())
    sys.stdout.buffer.write(generate(request).SerializeToString())


if __name__ == "__main__":
    main()
