"""The password hasher's concurrency bound (argon2id memory stays at about bound x memory cost)."""

from __future__ import annotations

import threading
import time

import pytest
from argon2 import PasswordHasher

from user_service.service.config import BoundedHasher, make_hasher


def _wait_for(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.005)  # polling interval


def test_no_more_than_max_concurrent_hashes_run_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    inside = 0
    peak = 0
    lock = threading.Lock()
    release = threading.Event()

    def slow_hash(self: PasswordHasher, password: str | bytes, *, salt: bytes | None = None) -> str:
        nonlocal inside, peak
        with lock:
            inside += 1
            peak = max(peak, inside)
        release.wait(10)
        with lock:
            inside -= 1
        return f"hash of {password!r}"

    monkeypatch.setattr(PasswordHasher, "hash", slow_hash)  # the argon2 call itself
    hasher = make_hasher(time_cost=1, memory_cost_kib=8, parallelism=1, max_concurrent=2)
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda n=n: results.append(hasher.hash(f"pw{n}"))) for n in range(5)
    ]
    for thread in threads:
        thread.start()
    # Two callers hash, three wait on the bound (CPython's Semaphore keeps its waiters there).
    _wait_for(lambda: inside == 2 and len(hasher._slots._cond._waiters) == 3)  # type: ignore[attr-defined]
    release.set()
    for thread in threads:
        thread.join(timeout=10)
    assert peak == 2
    assert sorted(results) == [f"hash of 'pw{n}'" for n in range(5)]


def test_the_bounded_hasher_hashes_and_verifies_like_argon2() -> None:
    hasher = make_hasher(time_cost=1, memory_cost_kib=8, parallelism=1, max_concurrent=1)
    stored = hasher.hash("correct horse")
    assert stored.startswith("$argon2id$")
    assert hasher.verify(stored, "correct horse") is True
    assert PasswordHasher().verify(stored, "correct horse") is True  # a plain argon2 hash
    assert not hasher.check_needs_rehash(stored)


def test_the_bound_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_concurrent"):
        BoundedHasher(max_concurrent=0)
