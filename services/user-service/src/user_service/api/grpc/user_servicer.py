"""``alvin.user.v1.UserService``: every RPC validates its request and calls the service layer.

Domain exceptions raised below propagate: the gRPC library's error interceptor turns them into
status codes with google.rpc.Status details (field violations included).
"""

from __future__ import annotations

import grpc

from alvin_protos.alvin.user.v1 import user_service_pb2 as pb
from alvin_protos.alvin.user.v1 import user_service_pb2_grpc as pb_grpc
from alvin_python_lib.errors import InvalidArgument
from user_service.api.grpc.checks import refuse_nul_characters
from user_service.api.grpc.convert import session_to_proto, timestamp, user_to_proto
from user_service.service import (
    abuse,
    admin,
    auth,
    recovery,
    registration,
    sessions,
    users,
    verification,
)
from user_service.service.deps import Deps


def _require_id(value: int, field: str = "id") -> int:
    if value <= 0:
        raise InvalidArgument.for_field(field, "is required")
    return value


@refuse_nul_characters(pb.DESCRIPTOR.services_by_name["UserService"])
class UserServicer(pb_grpc.UserServiceServicer):
    """The user-service's gRPC API, on the objects the composition root hands in."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def CreateUser(
        self, request: pb.CreateUserRequest, context: grpc.ServicerContext
    ) -> pb.CreateUserResponse:
        user = abuse.signup(
            self.deps,
            client_ip=request.client_ip,
            email=request.email,
            password=request.password,
            display_name=request.display_name,
            invited_by_id=request.invited_by_id if request.HasField("invited_by_id") else None,
        )
        return pb.CreateUserResponse(user=user_to_proto(user))

    def GetUser(
        self, request: pb.GetUserRequest, context: grpc.ServicerContext
    ) -> pb.GetUserResponse:
        return pb.GetUserResponse(
            user=user_to_proto(users.get_user(self.deps, _require_id(request.id)))
        )

    def BatchGetUsers(
        self, request: pb.BatchGetUsersRequest, context: grpc.ServicerContext
    ) -> pb.BatchGetUsersResponse:
        result = users.batch_get_users(self.deps, list(request.ids))
        return pb.BatchGetUsersResponse(
            users=[user_to_proto(u) for u in result.users], missing_ids=result.missing_ids
        )

    def ListUsers(
        self, request: pb.ListUsersRequest, context: grpc.ServicerContext
    ) -> pb.ListUsersResponse:
        page = users.list_users(
            self.deps, page_size=request.page_size, page_token=request.page_token
        )
        return pb.ListUsersResponse(
            users=[user_to_proto(u) for u in page.users], next_page_token=page.next_page_token
        )

    def UpdateUser(
        self, request: pb.UpdateUserRequest, context: grpc.ServicerContext
    ) -> pb.UpdateUserResponse:
        user = users.update_user(
            self.deps,
            _require_id(request.user.id, "user.id"),
            paths=list(request.update_mask.paths),
            display_name=request.user.display_name,
            email=request.user.email,
            is_active=request.user.is_active,
        )
        return pb.UpdateUserResponse(user=user_to_proto(user))

    def ChangePassword(
        self, request: pb.ChangePasswordRequest, context: grpc.ServicerContext
    ) -> pb.ChangePasswordResponse:
        abuse.change_password(
            self.deps,
            user_id=_require_id(request.user_id, "user_id"),
            current_password=request.current_password,
            new_password=request.new_password,
        )
        return pb.ChangePasswordResponse()

    def DeleteUser(
        self, request: pb.DeleteUserRequest, context: grpc.ServicerContext
    ) -> pb.DeleteUserResponse:
        users.delete_user(self.deps, _require_id(request.id))
        return pb.DeleteUserResponse()

    def Authenticate(
        self, request: pb.AuthenticateRequest, context: grpc.ServicerContext
    ) -> pb.AuthenticateResponse:
        result = auth.authenticate(
            self.deps,
            email=request.email,
            password=request.password,
            user_agent=request.user_agent,
            client_ip=request.client_ip,
        )
        return pb.AuthenticateResponse(
            session_token=result.token,
            expires_at=timestamp(result.expires_at),
            user=user_to_proto(result.user),
        )

    def ValidateSession(
        self, request: pb.ValidateSessionRequest, context: grpc.ServicerContext
    ) -> pb.ValidateSessionResponse:
        info = auth.validate_session(self.deps, request.session_token, refresh=request.refresh)
        return pb.ValidateSessionResponse(
            user=user_to_proto(info.user), expires_at=timestamp(info.expires_at)
        )

    def RevokeSession(
        self, request: pb.RevokeSessionRequest, context: grpc.ServicerContext
    ) -> pb.RevokeSessionResponse:
        auth.revoke_session(self.deps, request.session_token)
        return pb.RevokeSessionResponse()

    def ListSessions(
        self, request: pb.ListSessionsRequest, context: grpc.ServicerContext
    ) -> pb.ListSessionsResponse:
        found = sessions.list_sessions(self.deps, request.session_token)
        return pb.ListSessionsResponse(
            sessions=[session_to_proto(s.session, current=s.current) for s in found]
        )

    def RevokeSessionById(
        self, request: pb.RevokeSessionByIdRequest, context: grpc.ServicerContext
    ) -> pb.RevokeSessionByIdResponse:
        current = sessions.revoke_session(
            self.deps, request.session_token, _require_id(request.session_id, "session_id")
        )
        return pb.RevokeSessionByIdResponse(current=current)

    def RevokeOtherSessions(
        self, request: pb.RevokeOtherSessionsRequest, context: grpc.ServicerContext
    ) -> pb.RevokeOtherSessionsResponse:
        count = sessions.revoke_other_sessions(self.deps, request.session_token)
        return pb.RevokeOtherSessionsResponse(revoked_count=count)

    def DeactivateUser(
        self, request: pb.DeactivateUserRequest, context: grpc.ServicerContext
    ) -> pb.DeactivateUserResponse:
        user = admin.deactivate_user(
            self.deps, request.session_token, _require_id(request.user_id, "user_id")
        )
        return pb.DeactivateUserResponse(user=user_to_proto(user))

    def ReactivateUser(
        self, request: pb.ReactivateUserRequest, context: grpc.ServicerContext
    ) -> pb.ReactivateUserResponse:
        user = admin.reactivate_user(
            self.deps, request.session_token, _require_id(request.user_id, "user_id")
        )
        return pb.ReactivateUserResponse(user=user_to_proto(user))

    def AdminDeleteUser(
        self, request: pb.AdminDeleteUserRequest, context: grpc.ServicerContext
    ) -> pb.AdminDeleteUserResponse:
        admin.delete_user(self.deps, request.session_token, _require_id(request.user_id, "user_id"))
        return pb.AdminDeleteUserResponse()

    def SignUp(self, request: pb.SignUpRequest, context: grpc.ServicerContext) -> pb.SignUpResponse:
        registration.sign_up(
            self.deps,
            client_ip=request.client_ip,
            email=request.email,
            password=request.password,
            display_name=request.display_name,
            invited_by_id=request.invited_by_id if request.HasField("invited_by_id") else None,
        )
        return pb.SignUpResponse()

    def RequestPasswordReset(
        self, request: pb.RequestPasswordResetRequest, context: grpc.ServicerContext
    ) -> pb.RequestPasswordResetResponse:
        recovery.request_password_reset(self.deps, email=request.email, client_ip=request.client_ip)
        return pb.RequestPasswordResetResponse()

    def ResetPassword(
        self, request: pb.ResetPasswordRequest, context: grpc.ServicerContext
    ) -> pb.ResetPasswordResponse:
        recovery.reset_password(self.deps, token=request.token, new_password=request.new_password)
        return pb.ResetPasswordResponse()

    def VerifyEmail(
        self, request: pb.VerifyEmailRequest, context: grpc.ServicerContext
    ) -> pb.VerifyEmailResponse:
        user = verification.verify_email(self.deps, token=request.token)
        return pb.VerifyEmailResponse(user=user_to_proto(user))

    def RequestEmailChange(
        self, request: pb.RequestEmailChangeRequest, context: grpc.ServicerContext
    ) -> pb.RequestEmailChangeResponse:
        abuse.request_email_change(
            self.deps,
            user_id=_require_id(request.user_id, "user_id"),
            new_email=request.new_email,
            current_password=request.current_password,
        )
        return pb.RequestEmailChangeResponse()
