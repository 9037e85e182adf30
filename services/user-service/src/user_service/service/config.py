"""The business rules' parameters (derived from settings by ``user_service.app.bootstrap``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from argon2 import PasswordHasher
from argon2.profiles import RFC_9106_LOW_MEMORY

from alvin_python_lib.errors import ResourceExhausted


@dataclass(frozen=True)
class AbuseLimits:
    """Throttles of the password-bearing use cases (see the user-service README, "Abuse limits").

    Login: failures are counted per (account, client address): the first
    ``ServiceConfig.throttle_max_failures_per_email`` in a window cost nothing, then each further
    attempt from that pair waits ``login_base_delay`` doubled per failure (at most
    ``login_max_delay``); a login without a known address counts as one more pair. The
    account's failures from every address together have a higher ceiling,
    ``login_free_failures_per_account``, past which attempts are spaced by growing delays capped
    at ``login_max_account_delay``, never locked: a stranger elsewhere can slow the owner down by
    that much at most, not lock them out. Per address, ``ServiceConfig.throttle_max_failures_per_ip``
    failures per window stay a hard limit (the address is the guesser's own).
    Signup: at most ``signup_max_per_ip`` signups per address and ``signup_max_global`` in all per
    ``signup_window``. Password and email changes: ``change_password_max_failures`` wrong current
    passwords per user per ``ServiceConfig.throttle_window``, both forms counted together.
    """

    login_base_delay: timedelta = timedelta(seconds=1)
    login_max_delay: timedelta = timedelta(minutes=15)
    login_free_failures_per_account: int = 50
    login_max_account_delay: timedelta = timedelta(seconds=30)
    signup_window: timedelta = timedelta(hours=1)
    signup_max_per_ip: int = 10
    signup_max_global: int = 1000
    change_password_max_failures: int = 5


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
    #: Base URL of the front end that the emails' links open (/verify-email, /reset-password).
    public_url: str = "http://localhost:8080"
    reset_token_ttl: timedelta = timedelta(hours=1)
    verify_token_ttl: timedelta = timedelta(hours=48)
    #: Password-reset requests allowed per address and per client address in ``reset_window``.
    reset_window: timedelta = timedelta(hours=1)
    reset_max_per_email: int = 3
    reset_max_per_ip: int = 20
    #: False: Authenticate refuses users whose email is not verified (FAILED_PRECONDITION).
    unverified_may_log_in: bool = True
    #: Absolute session lifetime: a sliding refresh never moves ``expires_at`` past
    #: ``created_at + session_max_age`` (``session_ttl`` is the idle timeout).
    session_max_age: timedelta = timedelta(days=30)
    limits: AbuseLimits = field(default_factory=AbuseLimits)


class HasherBusy(ResourceExhausted):
    """Every password-hashing slot stayed busy for the hasher's whole bounded wait."""

    default_message = "The server is busy; try again in a moment."

    def __init__(self, message: str | None = None, *, retry_after: float | None = 1.0) -> None:
        super().__init__(message, retry_after=retry_after)


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
        max_wait: float = 2.0,
    ) -> None:
        super().__init__(time_cost, memory_cost, parallelism, hash_len, salt_len)
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        self.max_concurrent = max_concurrent
        self.max_wait = max_wait
        self._slots = threading.BoundedSemaphore(max_concurrent)

    @contextmanager
    def _slot(self) -> Iterator[None]:
        # A bounded wait: a burst of anonymous hashing (signups, wrong passwords) makes the
        # callers past the bound fail fast instead of queueing until every RPC deadline passes.
        if not self._slots.acquire(timeout=self.max_wait):
            raise HasherBusy()
        try:
            yield
        finally:
            self._slots.release()

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        """``PasswordHasher.hash`` within the concurrency bound (HasherBusy past ``max_wait``)."""
        with self._slot():
            return super().hash(password, salt=salt)

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        """``PasswordHasher.verify`` within the concurrency bound (HasherBusy past ``max_wait``)."""
        with self._slot():
            return super().verify(hash, password)


def make_hasher(
    time_cost: int,
    memory_cost_kib: int,
    parallelism: int,
    max_concurrent: int = 2,
    max_wait: float = 2.0,
) -> BoundedHasher:
    """An argon2id hasher with these parameters, at most ``max_concurrent`` calls at once, each
    caller waiting at most ``max_wait`` seconds for its turn."""
    return BoundedHasher(
        time_cost=time_cost,
        memory_cost=memory_cost_kib,
        parallelism=parallelism,
        hash_len=RFC_9106_LOW_MEMORY.hash_len,
        salt_len=RFC_9106_LOW_MEMORY.salt_len,
        max_concurrent=max_concurrent,
        max_wait=max_wait,
    )
