"""What the business rules need from settings, set once at start-up by ``user_service.app``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

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


def make_hasher(time_cost: int, memory_cost_kib: int, parallelism: int) -> PasswordHasher:
    """An argon2id hasher with these parameters."""
    return PasswordHasher(
        time_cost=time_cost,
        memory_cost=memory_cost_kib,
        parallelism=parallelism,
        hash_len=RFC_9106_LOW_MEMORY.hash_len,
        salt_len=RFC_9106_LOW_MEMORY.salt_len,
    )


_config: ServiceConfig | None = None


def configure(config: ServiceConfig) -> None:
    """Install the configuration (at process start; tests install cheap hashing)."""
    global _config  # noqa: PLW0603 - one configuration per process, set at start-up
    _config = config


def get_config() -> ServiceConfig:
    """The installed configuration."""
    if _config is None:
        raise RuntimeError("user_service.service.config.configure() was not called")
    return _config
