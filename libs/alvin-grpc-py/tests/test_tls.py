"""TLS and mTLS: certificates made in the test with `cryptography`; peer allow-list auth."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from google.protobuf import wrappers_pb2
from grpc_test_service import Handlers, Stub

from alvin_grpc.client import create_channel
from alvin_grpc.health import main as probe
from alvin_grpc.server import ServerSettings


class CA:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "alvin test CA")])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM)
        self.path = folder / "ca.pem"
        self.path.write_bytes(self.pem)

    def issue(self, common_name: str, *, server: bool) -> tuple[Path, Path]:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            ).add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
        else:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(f"{common_name}.internal")]),
                critical=False,
            ).add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
            )
        cert = builder.sign(self.key, hashes.SHA256())
        cert_path = self.folder / f"{common_name}.pem"
        key_path = self.folder / f"{common_name}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return cert_path, key_path


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> CA:
    return CA(tmp_path_factory.mktemp("pki"))


def _client(ca: CA, name: str | None, address: str, **kwargs: Any) -> grpc.Channel:
    if name is None:
        return create_channel(address, root_certificates=ca.pem, **kwargs)
    cert, key = ca.issue(name, server=False)
    return create_channel(
        address,
        root_certificates=ca.pem,
        client_certificate_chain=cert.read_bytes(),
        client_private_key=key.read_bytes(),
        **kwargs,
    )


@pytest.mark.timeout(60)
def test_mtls_peer_allow_list(grpc_server_factory: Any, handlers: Handlers, ca: CA) -> None:
    cert, key = ca.issue("user-service", server=True)
    settings = ServerSettings(
        grpc_tls_cert_file=cert,
        grpc_tls_key_file=key,
        grpc_tls_client_ca_file=ca.path,
        grpc_allowed_peers=("gateway",),
    )
    server, _ = grpc_server_factory([handlers.registration()], settings)
    request = wrappers_pb2.StringValue(value="x")

    gateway = _client(ca, "gateway", server.address)
    assert Stub(gateway).Echo(request).value == "x"

    intruder = _client(ca, "intruder", server.address)
    with pytest.raises(grpc.RpcError) as raised:
        Stub(intruder).Echo(request)
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED

    anonymous = _client(ca, None, server.address, default_timeout=2)
    with pytest.raises(grpc.RpcError) as raised:  # no client certificate: no TLS handshake
        Stub(anonymous).Echo(request)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE

    # The probe speaks mTLS too.
    client_cert, client_key = ca.issue("prober", server=False)
    args = [server.address, "--ca", str(ca.path), "--cert", str(client_cert)]
    assert probe([*args, "--key", str(client_key), "--timeout", "5"]) == 0
    for channel in (gateway, intruder, anonymous):
        channel.close()


@pytest.mark.timeout(60)
def test_tls_with_token(grpc_server_factory: Any, handlers: Handlers, ca: CA) -> None:
    cert, key = ca.issue("user-service-tls", server=True)
    settings = ServerSettings(
        grpc_tls_cert_file=cert, grpc_tls_key_file=key, grpc_service_token="tls-token"
    )
    server, _ = grpc_server_factory([handlers.registration()], settings)
    channel = _client(ca, None, server.address, token="tls-token", server_name="localhost")
    try:
        assert Stub(channel).Echo(wrappers_pb2.StringValue(value="y")).value == "y"
    finally:
        channel.close()
