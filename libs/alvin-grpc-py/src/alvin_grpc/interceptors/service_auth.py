"""Admit only calls that carry a service credential (shared token or mTLS peer name)."""

from __future__ import annotations

import hmac
from collections.abc import Generator, Iterable
from typing import Any, ClassVar, NoReturn

import grpc
from grpc_health.v1.health import SERVICE_NAME as HEALTH_SERVICE
from pydantic import SecretStr

from alvin_grpc import MIN_SERVICE_TOKEN_LENGTH
from alvin_grpc.errors import DEFAULT_ERROR_DOMAIN, abort_with_error
from alvin_grpc.interceptors.base import (
    CallInfo,
    Continuation,
    ServerInterceptor,
    metadata_value,
)
from alvin_python_lib.errors import Unauthenticated
from alvin_python_lib.logging import get_logger

__all__ = [
    "AUTHORIZATION_HEADER",
    "MIN_SERVICE_TOKEN_LENGTH",
    "OPEN_SERVICES",
    "REFLECTION_SERVICES",
    "SERVICE_TOKEN_HEADER",
    "ServiceAuthInterceptor",
]

SERVICE_TOKEN_HEADER = "x-service-token"  # noqa: S105 - a metadata key, not a secret
AUTHORIZATION_HEADER = "authorization"


REFLECTION_SERVICES = (
    "grpc.reflection.v1alpha.ServerReflection",
    "grpc.reflection.v1.ServerReflection",
)
# Services reachable without a service credential: health, for container probes and load
# balancers. Reflection is not among them: it lists every method of the API to whoever asks.
OPEN_SERVICES: frozenset[str] = frozenset({HEALTH_SERVICE})


class ServiceAuthInterceptor(ServerInterceptor):
    """Accept only calls that carry a service credential; others get ``UNAUTHENTICATED``.

    A call is accepted when either

    - its metadata has ``authorization: Bearer <token>`` or ``x-service-token: <token>`` equal to
      one of ``tokens`` (several: rotation; compared with ``hmac.compare_digest``), or
    - it came over mTLS and the client certificate's common name or one of its subject alternative
      names is in ``allowed_peers`` (read from ``context.auth_context()``).

    Services in ``open_services`` (by default health only) need no credential. Callback-style
    (``experimental_non_blocking``) handlers of the other services are checked too.
    """

    intercept_non_blocking: ClassVar[bool] = True

    def __init__(
        self,
        *,
        tokens: Iterable[str | SecretStr] = (),
        allowed_peers: Iterable[str] = (),
        open_services: Iterable[str] = OPEN_SERVICES,
        domain: str = DEFAULT_ERROR_DOMAIN,
    ) -> None:
        raw = (t.get_secret_value() if isinstance(t, SecretStr) else t for t in tokens)
        self._tokens = [t.encode() for t in raw if t]
        self.allowed_peers = frozenset(allowed_peers)
        self.skip_services = frozenset(open_services)
        self.domain = domain
        if not self._tokens and not self.allowed_peers:
            raise ValueError("ServiceAuthInterceptor needs at least one token or allowed peer")
        self._log = get_logger("alvin_grpc.auth")

    def intercept(
        self,
        method: Continuation,
        request_or_iterator: Any,
        context: grpc.ServicerContext,
        call: CallInfo,
    ) -> Generator[Any, None, Any]:
        token_ok = self._token_ok(context)
        if not (token_ok or self._peer_ok(context)):
            self._reject(
                call, context, "missing credentials" if token_ok is None else "wrong token"
            )
        return (yield from method(request_or_iterator, context))

    def _presented_token(self, context: grpc.ServicerContext) -> bytes | None:
        auth = metadata_value(context, AUTHORIZATION_HEADER)
        if auth is not None:
            scheme, _, value = auth.strip().partition(" ")
            if scheme.lower() == "bearer" and value.strip():
                return value.strip().encode()
        token = metadata_value(context, SERVICE_TOKEN_HEADER)
        return token.strip().encode() if token else None

    def _token_ok(self, context: grpc.ServicerContext) -> bool | None:
        """True/False for a right/wrong token, None when none was presented."""
        presented = self._presented_token(context)
        if presented is None:
            return None
        matched = False
        for token in self._tokens:  # no early exit: the time does not tell which token matched
            matched |= hmac.compare_digest(presented, token)
        return matched

    def _peer_ok(self, context: grpc.ServicerContext) -> bool:
        if not self.allowed_peers:
            return False
        auth = context.auth_context()
        if b"ssl" not in _values(auth.get("transport_security_type")):
            return False
        names = _values(auth.get("x509_common_name")) + _values(
            auth.get("x509_subject_alternative_name")
        )
        return any(name.decode("utf-8", "replace") in self.allowed_peers for name in names)

    def _reject(self, call: CallInfo, context: grpc.ServicerContext, reason: str) -> NoReturn:
        try:
            peer = context.peer()
        except Exception:
            peer = "unknown"
        self._log.warning("grpc.auth.rejected", method=call.method, peer=peer, reason=reason)
        abort_with_error(
            context, Unauthenticated("Missing or invalid service credentials."), domain=self.domain
        )


def _values(value: Any) -> list[bytes]:
    """auth_context() values are lists of bytes (the stubs say bytes): normalise."""
    if value is None:
        return []
    if isinstance(value, bytes):
        return [value]
    return [v if isinstance(v, bytes) else str(v).encode() for v in value]
