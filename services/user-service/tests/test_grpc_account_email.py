"""The account-email RPCs through a real gRPC server on loopback: answers and status codes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from accounts_support import deliver, last_to, token_in
from pydantic import SecretStr
from sqlalchemy.orm import Session
from support import DEFAULT_PASSWORD, TEST_CONFIG

from alvin_grpc.client import create_channel, idempotent_methods
from alvin_grpc.server import ServerSettings
from alvin_grpc.testing import assert_rpc_error
from alvin_protos.alvin.user.v1 import user_service_pb2 as pb
from alvin_protos.alvin.user.v1 import user_service_pb2_grpc as pb_grpc
from user_service.app.server import registration
from user_service.commands.smtp_catcher import SmtpCatcher
from user_service.remote.email import Mailer
from user_service.service.deps import Deps

TOKEN = "test-service-token"
SERVICE = pb.DESCRIPTOR.services_by_name["UserService"]
NEW_PASSWORD = "a brand new passphrase"  # pragma: allowlist secret (a test password)


@pytest.fixture
def mailer(smtp_mailer: Mailer) -> Mailer:
    return smtp_mailer


@pytest.fixture
def stub(
    db: Session, grpc_server_factory: Callable[..., Any], deps: Deps
) -> Iterator[pb_grpc.UserServiceStub]:
    settings = ServerSettings(grpc_service_token=SecretStr(TOKEN), grpc_grace_period_s=0)
    server, _ = grpc_server_factory([registration(deps)], settings, database=deps.database)
    channel = create_channel(
        str(server.address),
        token=TOKEN,
        retry_methods=idempotent_methods(SERVICE),
        default_timeout=10,
    )
    yield pb_grpc.UserServiceStub(channel)
    channel.close()


def _sign_up(stub: pb_grpc.UserServiceStub, email: str) -> pb.SignUpResponse:
    return stub.SignUp(
        pb.SignUpRequest(email=email, password=DEFAULT_PASSWORD, display_name="Someone")
    )


def test_the_new_rpcs_are_not_retried() -> None:
    # Each may send an email or use a single-use token: a blind retry is not safe.
    retried = set(idempotent_methods(SERVICE))
    for name in (
        "SignUp",
        "RequestPasswordReset",
        "ResetPassword",
        "VerifyEmail",
        "RequestEmailChange",
    ):
        assert not any(m.endswith(f"/{name}") for m in retried), name


def test_sign_up_answers_alike_for_new_and_taken_addresses(
    stub: pb_grpc.UserServiceStub,
) -> None:
    new = _sign_up(stub, "grpc-new@example.com")
    taken = _sign_up(stub, "GRPC-new@example.com")
    assert new.SerializeToString() == taken.SerializeToString() == b""
    with pytest.raises(grpc.RpcError) as bad:
        weak = "short"  # pragma: allowlist secret
        stub.SignUp(pb.SignUpRequest(email="nope", password=weak, display_name=""))
    assert_rpc_error(
        bad,
        grpc.StatusCode.INVALID_ARGUMENT,
        field_violations=["email", "display_name", "password"],
    )


def test_reset_flow_and_errors(
    stub: pb_grpc.UserServiceStub, db: Session, deps: Deps, smtp: SmtpCatcher
) -> None:
    _sign_up(stub, "grpc-reset@example.com")
    known = stub.RequestPasswordReset(
        pb.RequestPasswordResetRequest(email="grpc-reset@example.com")
    )
    unknown = stub.RequestPasswordReset(pb.RequestPasswordResetRequest(email="nobody@example.com"))
    assert known.SerializeToString() == unknown.SerializeToString()
    deliver(db, deps)
    token = token_in(last_to(smtp, "grpc-reset@example.com", "Reset your password"))

    with pytest.raises(grpc.RpcError) as weak:
        common = "password"  # pragma: allowlist secret
        stub.ResetPassword(pb.ResetPasswordRequest(token=token, new_password=common))
    assert_rpc_error(weak, grpc.StatusCode.INVALID_ARGUMENT, field_violations=["new_password"])
    stub.ResetPassword(pb.ResetPasswordRequest(token=token, new_password=NEW_PASSWORD))
    with pytest.raises(grpc.RpcError) as used:
        stub.ResetPassword(pb.ResetPasswordRequest(token=token, new_password=NEW_PASSWORD))
    assert_rpc_error(used, grpc.StatusCode.INVALID_ARGUMENT, field_violations=["token"])
    stub.Authenticate(pb.AuthenticateRequest(email="grpc-reset@example.com", password=NEW_PASSWORD))


def test_reset_requests_are_resource_exhausted_past_the_limit(
    stub: pb_grpc.UserServiceStub,
) -> None:
    request = pb.RequestPasswordResetRequest(email="bombed@example.com", client_ip="10.1.1.1")
    for _ in range(TEST_CONFIG.reset_max_per_email):
        stub.RequestPasswordReset(request)
    with pytest.raises(grpc.RpcError) as info:
        stub.RequestPasswordReset(request)
    assert_rpc_error(info, grpc.StatusCode.RESOURCE_EXHAUSTED)


def test_verify_and_change_email(
    stub: pb_grpc.UserServiceStub, db: Session, deps: Deps, smtp: SmtpCatcher
) -> None:
    _sign_up(stub, "grpc-verify@example.com")
    deliver(db, deps)
    token = token_in(last_to(smtp, "grpc-verify@example.com", "Confirm your email address"))
    user = stub.VerifyEmail(pb.VerifyEmailRequest(token=token)).user
    assert user.email_verified
    with pytest.raises(grpc.RpcError) as used:
        stub.VerifyEmail(pb.VerifyEmailRequest(token=token))
    assert_rpc_error(used, grpc.StatusCode.INVALID_ARGUMENT, field_violations=["token"])

    with pytest.raises(grpc.RpcError) as wrong:
        stub.RequestEmailChange(
            pb.RequestEmailChangeRequest(
                user_id=user.id, new_email="moved@example.com", current_password="wrong one"
            )
        )
    assert_rpc_error(wrong, grpc.StatusCode.INVALID_ARGUMENT, field_violations=["current_password"])
    with pytest.raises(grpc.RpcError) as no_id:
        stub.RequestEmailChange(pb.RequestEmailChangeRequest(new_email="moved@example.com"))
    assert_rpc_error(no_id, grpc.StatusCode.INVALID_ARGUMENT, field_violations=["user_id"])
    with pytest.raises(grpc.RpcError) as missing:
        stub.RequestEmailChange(
            pb.RequestEmailChangeRequest(
                user_id=999, new_email="moved@example.com", current_password=DEFAULT_PASSWORD
            )
        )
    assert_rpc_error(missing, grpc.StatusCode.NOT_FOUND)

    stub.RequestEmailChange(
        pb.RequestEmailChangeRequest(
            user_id=user.id, new_email="moved@example.com", current_password=DEFAULT_PASSWORD
        )
    )
    deliver(db, deps)
    change = token_in(last_to(smtp, "moved@example.com", "Confirm your email address"))
    moved = stub.VerifyEmail(pb.VerifyEmailRequest(token=change)).user
    assert moved.email == "moved@example.com"
    assert moved.email_verified
