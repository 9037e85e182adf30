"""The business rules' parameters (derived from settings by ``user_service.app.bootstrap``)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from argon2 import PasswordHasher
from argon2.profiles import RFC_9106_LOW_MEMORY


@dataclass(frozen=True)
class ServiceConfig:
    """Parameters of the business rules (derived from the service's settings)."""

    hasher: PasswordHasher
    session_ttl: timedelta = timedelta(days=14)
    session_sliding: bool = True
    throttle_window: timedelta = timedelta(minutes=15)
    throttle_max_failures_per_email: int = 5
    throttle_max_failures_per_ip: int = 50
    email_from: str = "Alvin <no-reply@example.com>"


class BoundedHasher(PasswordHasher):
    """A ``PasswordHasher`` that runs at most ``max_concurrent`` hashes or checks at once.

    Each argon2id call holds ``memory_cost`` KiB (64 MiB by default) and already uses
    ``parallelism`` threads: with one call per gRPC handler thread, a burst of logins took the
    server to 631 MiB (10 x 64 MiB) for no gain in throughput on a few cores. Callers beyond the
    bound wait their turn (within their RPC deadline), so memory stays at about
    ``max_concurrent x memory_cost``.
    """

    def __init__(
        self,
        time_cost: int = 3,
        memory_cost: int = 65536,
        parallelism: int = 4,
        hash_len: int = 32,
        salt_len: int = 16,
        *,
        max_concurrent: int = 2,
    ) -> None:
        super().__init__(time_cost, memory_cost, parallelism, hash_len, salt_len)
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        self.max_concurrent = max_concurrent
        self._slots = threading.BoundedSemaphore(max_concurrent)

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        """``PasswordHasher.hash`` within the concurrency bound."""
        with self._slots:
            return super().hash(password, salt=salt)

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        """``PasswordHasher.verify`` within the concurrency bound."""
        with self._slots:
            return super().verify(hash, password)


def make_hasher(
    time_cost: int, memory_cost_kib: int, parallelism: int, max_concurrent: int = 2
) -> BoundedHasher:
    """An argon2id hasher with these parameters, at most ``max_concurrent`` calls at once."""
    return BoundedHasher(
        time_cost=time_cost,
        memory_cost=memory_cost_kib,
        parallelism=parallelism,
        hash_len=RFC_9106_LOW_MEMORY.hash_len,
        salt_len=RFC_9106_LOW_MEMORY.salt_len,
        max_concurrent=max_concurrent,
    )
