"""The user-service client: typed calls over ``alvin.user.v1.UserService``.

Built on :class:`alvin_grpc.client.BaseClient`: failed calls raise the domain exceptions of
:mod:`alvin_python_lib.errors` (``NotFound``, ``InvalidArgument`` with field violations,
``Unavailable`` ...) instead of ``grpc.RpcError``. The channel comes from
:func:`alvin_grpc.client.create_channel`: a default deadline on every call, the service token in
the metadata, the bound request id as ``x-request-id``, and retries on ``UNAVAILABLE`` for the
methods that the contract marks idempotent (read from the service descriptor, not listed here).

Results are plain frozen dataclasses, so that the layers above never see protobuf messages.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import grpc
from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2
from pydantic import SecretStr

from alvin_grpc.client import BaseClient, create_channel, idempotent_methods
from alvin_grpc.errors import InternalError
from alvin_protos.alvin.user.v1 import user_service_pb2 as pb
from alvin_protos.alvin.user.v1 import user_service_pb2_grpc as pb_grpc
from alvin_python_lib.errors import DomainError, Unauthenticated

__all__ = [
    "MAX_BATCH",
    "SERVICE_NAME",
    "DeviceSession",
    "ServiceCredentialsRejected",
    "Session",
    "SessionInfo",
    "User",
    "UserPage",
    "UserServiceClient",
    "retry_methods",
]

SERVICE = pb.DESCRIPTOR.services_by_name["UserService"]
SERVICE_NAME: str = SERVICE.full_name  # "alvin.user.v1.UserService" (also its health name)
MAX_BATCH = 500  # BatchGetUsers accepts at most this many ids per call
# The message of alvin_grpc's ServiceAuthInterceptor when the gateway's token is refused.
_SERVICE_CREDENTIALS_MESSAGE = "Missing or invalid service credentials."


def retry_methods() -> list[str]:
    """The methods retried on UNAVAILABLE: those marked NO_SIDE_EFFECTS or IDEMPOTENT."""
    return idempotent_methods(SERVICE)


class ServiceCredentialsRejected(InternalError):
    """The user-service refused the gateway's service token: a deployment error, not the user's."""

    default_message = "The gateway is not allowed to call the user-service."


@dataclass(frozen=True)
class User:
    """A user account as the user-service returns it."""

    id: int
    email: str
    display_name: str
    invited_by_id: int | None
    is_active: bool
    created_at: datetime
    updated_at: datetime
    last_login_at: datetime | None
    #: True once the user proved to own ``email`` (verification link or password reset).
    email_verified: bool = False
    #: An administrator: may deactivate, reactivate and delete users and see every email.
    admin: bool = False


@dataclass(frozen=True)
class Session:
    """A new login session: the token (secret, shown once), its expiry and the user."""

    token: str
    expires_at: datetime
    user: User


@dataclass(frozen=True)
class SessionInfo:
    """A valid session's user and expiry."""

    user: User
    expires_at: datetime


@dataclass(frozen=True)
class DeviceSession:
    """One open session of a user, as its owner sees it (never its token)."""

    id: int
    user_agent: str
    client_ip: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    current: bool


@dataclass(frozen=True)
class UserPage:
    """One ListUsers page; ``next_page_token`` is empty on the last page."""

    users: list[User]
    next_page_token: str


def _time(stamp: Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=timezone.utc)


def _user(message: pb.User) -> User:
    return User(
        id=message.id,
        email=message.email,
        display_name=message.display_name,
        invited_by_id=message.invited_by_id if message.HasField("invited_by_id") else None,
        is_active=message.is_active,
        created_at=_time(message.created_at),
        updated_at=_time(message.updated_at),
        last_login_at=_time(message.last_login_at) if message.HasField("last_login_at") else None,
        email_verified=message.email_verified,
        admin=message.admin,
    )


class UserServiceClient(BaseClient[pb_grpc.UserServiceStub]):
    """Typed calls of ``alvin.user.v1.UserService``; errors arrive as domain exceptions."""

    def __init__(self, channel: grpc.Channel) -> None:
        super().__init__(channel, pb_grpc.UserServiceStub)
        self._health_check = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )

    @classmethod
    def connect(
        cls,
        target: str,
        *,
        token: str | SecretStr | None = None,
        timeout_s: float = 2.0,
        max_attempts: int = 3,
        load_balancing_policy: str | None = None,
        max_reconnect_backoff_s: float | None = None,
        tls: bool = False,
        root_certificates: bytes | None = None,
        interceptors: Sequence[Any] = (),
    ) -> UserServiceClient:
        """A client on a new channel to ``target`` (see the module docstring).

        ``interceptors`` run after the metadata interceptor (tests count calls with one);
        ``load_balancing_policy="round_robin"`` spreads calls over every address of ``target``.
        """
        channel = create_channel(
            target,
            tls=tls,
            root_certificates=root_certificates,
            token=token,
            default_timeout=timeout_s,
            retry_methods=retry_methods(),
            max_attempts=max_attempts,  # 1: no retries
            load_balancing_policy=load_balancing_policy,
            max_reconnect_backoff_s=max_reconnect_backoff_s,
            # round_robin also skips replicas whose health says NOT_SERVING (draining, database down)
            health_check_service=SERVICE_NAME if load_balancing_policy == "round_robin" else None,
            interceptors=interceptors,
        )
        return cls(channel)

    def translate(self, error: grpc.RpcError) -> DomainError:
        """Domain exception for ``error``; a refused service token becomes an internal error."""
        translated = super().translate(error)
        if (
            isinstance(translated, Unauthenticated)
            and translated.message == _SERVICE_CREDENTIALS_MESSAGE
        ):
            return ServiceCredentialsRejected()
        return translated

    @staticmethod
    def _user_auth_only(error: DomainError) -> DomainError:
        # Only Authenticate and ValidateSession answer UNAUTHENTICATED about the end user; from
        # any other RPC it means the service credential was refused.
        if isinstance(error, Unauthenticated):
            return ServiceCredentialsRejected()
        return error

    def _call(self, method: Any, request: Any, *, end_user_auth: bool = False) -> Any:
        try:
            return self.call(method, request)
        except DomainError as error:
            if end_user_auth:
                raise
            replacement = self._user_auth_only(error)
            if replacement is error:
                raise
            raise replacement from error

    # ------------------------------------------------------------------------------ users

    def create_user(
        self, *, email: str, password: str, display_name: str, invited_by_id: int | None = None
    ) -> User:
        """Sign a user up (ALREADY_EXISTS / INVALID_ARGUMENT with field violations)."""
        request = pb.CreateUserRequest(email=email, password=password, display_name=display_name)
        if invited_by_id is not None:
            request.invited_by_id = invited_by_id
        response: pb.CreateUserResponse = self._call(self.stub.CreateUser, request)
        return _user(response.user)

    def get_user(self, user_id: int) -> User:
        """One user (NotFound when there is none)."""
        response: pb.GetUserResponse = self._call(self.stub.GetUser, pb.GetUserRequest(id=user_id))
        return _user(response.user)

    def batch_get_users(self, user_ids: Iterable[int]) -> dict[int, User]:
        """The users found among ``user_ids`` by id (missing ids are left out).

        One BatchGetUsers call per 500 distinct ids.
        """
        unique = list(dict.fromkeys(user_ids))
        found: dict[int, User] = {}
        for start in range(0, len(unique), MAX_BATCH):
            request = pb.BatchGetUsersRequest(ids=unique[start : start + MAX_BATCH])
            response: pb.BatchGetUsersResponse = self._call(self.stub.BatchGetUsers, request)
            for message in response.users:
                found[message.id] = _user(message)
        return found

    def list_users(self, *, page_size: int = 0, page_token: str = "") -> UserPage:
        """One page of users in id order (the server caps ``page_size`` at 200)."""
        response: pb.ListUsersResponse = self._call(
            self.stub.ListUsers, pb.ListUsersRequest(page_size=page_size, page_token=page_token)
        )
        return UserPage(
            users=[_user(message) for message in response.users],
            next_page_token=response.next_page_token,
        )

    def update_user(
        self,
        user_id: int,
        *,
        display_name: str | None = None,
        email: str | None = None,
        is_active: bool | None = None,
    ) -> User:
        """Change the given fields (the others are left as they are)."""
        user = pb.User(id=user_id)
        paths: list[str] = []
        if display_name is not None:
            user.display_name = display_name
            paths.append("display_name")
        if email is not None:
            user.email = email
            paths.append("email")
        if is_active is not None:
            user.is_active = is_active
            paths.append("is_active")
        request = pb.UpdateUserRequest(user=user, update_mask=FieldMask(paths=paths))
        response: pb.UpdateUserResponse = self._call(self.stub.UpdateUser, request)
        return _user(response.user)

    def change_password(self, user_id: int, *, current_password: str, new_password: str) -> None:
        """Replace the password; the user-service revokes every session of the user."""
        self._call(
            self.stub.ChangePassword,
            pb.ChangePasswordRequest(
                user_id=user_id, current_password=current_password, new_password=new_password
            ),
        )

    def delete_user(self, user_id: int) -> None:
        """Soft-delete a user (and revoke its sessions)."""
        self._call(self.stub.DeleteUser, pb.DeleteUserRequest(id=user_id))

    # ----------------------------------------------------------------------------- sessions

    def authenticate(
        self, *, email: str, password: str, user_agent: str = "", client_ip: str = ""
    ) -> Session:
        """Log in (Unauthenticated for bad credentials, ResourceExhausted when throttled)."""
        response: pb.AuthenticateResponse = self._call(
            self.stub.Authenticate,
            pb.AuthenticateRequest(
                email=email, password=password, user_agent=user_agent, client_ip=client_ip
            ),
            end_user_auth=True,
        )
        return Session(
            token=response.session_token,
            expires_at=_time(response.expires_at),
            user=_user(response.user),
        )

    def validate_session(self, token: str, *, refresh: bool = False) -> SessionInfo:
        """The session's user (Unauthenticated when the token is unknown, expired or revoked)."""
        response: pb.ValidateSessionResponse = self._call(
            self.stub.ValidateSession,
            pb.ValidateSessionRequest(session_token=token, refresh=refresh),
            end_user_auth=True,
        )
        return SessionInfo(user=_user(response.user), expires_at=_time(response.expires_at))

    def revoke_session(self, token: str) -> None:
        """Log out (idempotent: unknown or revoked tokens are fine)."""
        self._call(self.stub.RevokeSession, pb.RevokeSessionRequest(session_token=token))

    # ------------------------------------------------------------------ account emails

    def sign_up(
        self,
        *,
        email: str,
        password: str,
        display_name: str,
        invited_by_id: int | None = None,
        client_ip: str = "",
    ) -> None:
        """Enumeration-safe signup: the same empty answer for a new and a taken address
        (INVALID_ARGUMENT with field violations for invalid input)."""
        request = pb.SignUpRequest(
            email=email, password=password, display_name=display_name, client_ip=client_ip
        )
        if invited_by_id is not None:
            request.invited_by_id = invited_by_id
        self._call(self.stub.SignUp, request)

    def request_password_reset(self, *, email: str, client_ip: str = "") -> None:
        """Email a reset link if the address has an account (the same answer either way)."""
        self._call(
            self.stub.RequestPasswordReset,
            pb.RequestPasswordResetRequest(email=email, client_ip=client_ip),
        )

    def reset_password(self, *, token: str, new_password: str) -> None:
        """Set a new password with a reset token (InvalidArgument on ``token`` or
        ``new_password``)."""
        self._call(
            self.stub.ResetPassword,
            pb.ResetPasswordRequest(token=token, new_password=new_password),
        )

    def verify_email(self, *, token: str) -> User:
        """Use a verification token; the user after it (InvalidArgument on ``token``)."""
        response: pb.VerifyEmailResponse = self._call(
            self.stub.VerifyEmail, pb.VerifyEmailRequest(token=token)
        )
        return _user(response.user)

    def request_email_change(self, user_id: int, *, new_email: str, current_password: str) -> None:
        """Mail a verification link to ``new_email``; the email changes once it is used."""
        self._call(
            self.stub.RequestEmailChange,
            pb.RequestEmailChangeRequest(
                user_id=user_id, new_email=new_email, current_password=current_password
            ),
        )

    # ----------------------------------------------------------- devices (by session token)

    def list_sessions(self, token: str) -> list[DeviceSession]:
        """The open sessions of the token's user, newest first (Unauthenticated for a bad
        token)."""
        response: pb.ListSessionsResponse = self._call(
            self.stub.ListSessions,
            pb.ListSessionsRequest(session_token=token),
            end_user_auth=True,
        )
        return [
            DeviceSession(
                id=m.id,
                user_agent=m.user_agent,
                client_ip=m.client_ip,
                created_at=_time(m.created_at),
                last_seen_at=_time(m.last_seen_at),
                expires_at=_time(m.expires_at),
                current=m.current,
            )
            for m in response.sessions
        ]

    def revoke_session_by_id(self, token: str, session_id: int) -> bool:
        """End one session of the token's user (NotFound when it is not one of theirs); True
        when it was the token's own."""
        response: pb.RevokeSessionByIdResponse = self._call(
            self.stub.RevokeSessionById,
            pb.RevokeSessionByIdRequest(session_token=token, session_id=session_id),
            end_user_auth=True,
        )
        return bool(response.current)

    def revoke_other_sessions(self, token: str) -> int:
        """End every other session of the token's user; how many ended."""
        response: pb.RevokeOtherSessionsResponse = self._call(
            self.stub.RevokeOtherSessions,
            pb.RevokeOtherSessionsRequest(session_token=token),
            end_user_auth=True,
        )
        return int(response.revoked_count)

    # ------------------------------------------------- administration (by the admin's token)

    def deactivate_user(self, token: str, user_id: int) -> User:
        """Deactivate a user as the administrator holding ``token`` (PermissionDenied when
        they are not one)."""
        response: pb.DeactivateUserResponse = self._call(
            self.stub.DeactivateUser,
            pb.DeactivateUserRequest(session_token=token, user_id=user_id),
            end_user_auth=True,
        )
        return _user(response.user)

    def reactivate_user(self, token: str, user_id: int) -> User:
        """Reactivate a user as the administrator holding ``token``."""
        response: pb.ReactivateUserResponse = self._call(
            self.stub.ReactivateUser,
            pb.ReactivateUserRequest(session_token=token, user_id=user_id),
            end_user_auth=True,
        )
        return _user(response.user)

    def admin_delete_user(self, token: str, user_id: int) -> None:
        """Delete a user as the administrator holding ``token``."""
        self._call(
            self.stub.AdminDeleteUser,
            pb.AdminDeleteUserRequest(session_token=token, user_id=user_id),
            end_user_auth=True,
        )

    # ------------------------------------------------------------------------------- health

    def health(self, *, timeout: float) -> str:
        """The user-service's health status name (``SERVING``, ``NOT_SERVING`` ...).

        Raises ``Unavailable`` when the service cannot be reached within ``timeout``.
        """
        with self.translate_errors():
            response: health_pb2.HealthCheckResponse = self._health_check(
                health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=timeout
            )
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))
