from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from user_service.remote import email as remote_email
from user_service.service.config import ServiceConfig, configure, make_hasher
from user_service.test.smtp import SmtpCatcher

TEST_CONFIG = ServiceConfig(
    hasher=make_hasher(time_cost=1, memory_cost_kib=8, parallelism=1),  # cheap hashing in tests
    session_ttl=timedelta(hours=1),
    throttle_window=timedelta(minutes=15),
    throttle_max_failures_per_email=3,
    throttle_max_failures_per_ip=5,
    email_from="Tests <tests@example.com>",
)


@pytest.fixture(autouse=True)
def service_config() -> ServiceConfig:
    configure(TEST_CONFIG)
    return TEST_CONFIG


@pytest.fixture
def smtp() -> Iterator[SmtpCatcher]:
    with SmtpCatcher() as catcher:
        remote_email.configure(remote_email.SmtpConfig(host=catcher.host, port=catcher.port))
        yield catcher
