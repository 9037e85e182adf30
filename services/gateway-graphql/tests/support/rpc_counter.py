"""A client interceptor that records every call: ``connect(..., interceptors=[counter])``."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

import grpc

__all__ = ["RecordedCall", "RpcCounter"]


@dataclass(frozen=True)
class RecordedCall:
    """One call: the method's short name (``BatchGetUsers``), its metadata and deadline."""

    method: str
    metadata: dict[str, str]
    timeout: float | None


class RpcCounter(grpc.UnaryUnaryClientInterceptor):
    """Counts the unary calls made through a channel (one per call, retries not counted)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[RecordedCall] = []

    def intercept_unary_unary(
        self, continuation: Any, client_call_details: Any, request: Any
    ) -> Any:
        metadata = {
            str(key): value if isinstance(value, str) else value.decode("utf-8", "replace")
            for key, value in (client_call_details.metadata or ())
        }
        call = RecordedCall(
            method=str(client_call_details.method).rsplit("/", 1)[-1],
            metadata=metadata,
            timeout=client_call_details.timeout,
        )
        with self._lock:
            self._calls.append(call)
        return continuation(client_call_details, request)

    @property
    def calls(self) -> list[RecordedCall]:
        """Every call so far, oldest first."""
        with self._lock:
            return list(self._calls)

    def counts(self) -> Counter[str]:
        """Calls per method."""
        return Counter(call.method for call in self.calls)

    def reset(self) -> None:
        """Forget the calls so far."""
        with self._lock:
            self._calls.clear()
