"""Email tasks."""

from __future__ import annotations

from typing import Any

from celery import shared_task  # type: ignore[import-untyped]

from alvin_python_lib.tasks import IdempotentTask
from user_service.service import emails
from user_service.tasks import deps_of


@shared_task(  # type: ignore[untyped-decorator]  # celery is untyped
    bind=True,
    base=IdempotentTask,
    name="user_service.send_welcome_email",
    autoretry_for=(OSError,),  # SMTP down or refusing: retry with backoff
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=10,
)
def send_welcome_email(self: IdempotentTask, user_id: int) -> bool:
    """Send the welcome email of ``user_id`` (idempotent: at most one per user)."""
    return emails.send_welcome_email(deps_of(self.app), user_id)


def welcome_email_signature(user_id: int) -> Any:
    """The task call for the outbox relay."""
    return send_welcome_email.s(user_id)
