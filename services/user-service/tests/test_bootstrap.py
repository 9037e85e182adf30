"""The composition root builds every part from settings, and uses what it is handed instead."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.message import EmailMessage

from pydantic import SecretStr
from sqlalchemy import make_url
from sqlalchemy.orm import Session
from support import TEST_CONFIG, FixedClock, MakeUser

from alvin_python_lib import ids
from alvin_python_lib.db import Database, utcnow
from user_service.app.bootstrap import bootstrap
from user_service.app.settings import Settings
from user_service.remote.email import SmtpMailer
from user_service.service import emails


def test_parts_come_from_settings(database_url: str) -> None:
    settings = Settings(  # type: ignore[call-arg]
        database_url=database_url,
        redis_url="redis://redis.invalid:6379/0",  # building connects to nothing
        smtp_host="mail.internal",
        smtp_port=2525,
        smtp_password=SecretStr("smtp secret"),  # pragma: allowlist secret
        session_ttl_seconds=600,
        argon2_time_cost=2,
        grpc_max_workers=30,
    )
    container = bootstrap(settings, process="grpc", id_generator=ids.SnowflakeGenerator(7))
    try:
        deps = container.deps
        assert container.settings is settings
        assert deps.database.engine.url.database == make_url(database_url).database
        assert deps.database.engine.pool.size() == 30  # type: ignore[attr-defined]
        assert isinstance(deps.mailer, SmtpMailer)
        assert (deps.mailer.config.host, deps.mailer.config.port) == ("mail.internal", 2525)
        assert deps.mailer.config.password == "smtp secret"  # pragma: allowlist secret
        assert deps.config.session_ttl == timedelta(seconds=600)
        assert deps.config.hasher.time_cost == 2
        assert abs(deps.clock() - utcnow()) < timedelta(seconds=60)
    finally:
        container.close()


class CatchingMailer:
    """A mailer that keeps what it is given (a Mailer needs only ``send``)."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []

    def send(self, message: EmailMessage) -> None:
        self.sent.append(message)


def test_handed_in_parts_replace_the_defaults(
    settings: Settings, database: Database, db: Session, make_user: MakeUser
) -> None:
    mailer = CatchingMailer()
    clock = FixedClock(datetime(2030, 1, 1, tzinfo=timezone.utc))
    source = ids.SnowflakeGenerator(3)
    container = bootstrap(
        settings,
        database=database,
        config=TEST_CONFIG,
        mailer=mailer,
        id_generator=source,
        clock=clock,
    )
    deps = container.deps
    assert deps.database is database
    assert deps.config is TEST_CONFIG
    assert deps.clock() == datetime(2030, 1, 1, tzinfo=timezone.utc)
    assert ids.decode(deps.ids.next_id()).worker_id == 3

    user = make_user(email="handed-in@example.com")
    assert emails.send_welcome_email(deps, user.id) is True
    assert [m["To"] for m in mailer.sent] == ["handed-in@example.com"]


def test_without_an_id_generator_a_worker_id_is_leased_until_close(
    settings: Settings, database: Database
) -> None:
    container = bootstrap(settings, database=database)
    leased = container.leased_ids
    assert leased is not None
    assert container.deps.ids is leased
    assert ids.decode(leased.next_id()).worker_id == leased.worker_id
    container.close()
    assert leased.closed
