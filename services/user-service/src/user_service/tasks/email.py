"""Email tasks."""

from __future__ import annotations

from typing import Any

from celery import shared_task  # type: ignore[import-untyped]

from alvin_python_lib.tasks import IdempotentTask
from user_service.service import emails


@shared_task(  # type: ignore[untyped-decorator]  # celery is untyped
    base=IdempotentTask,
    name="user_service.send_welcome_email",
    autoretry_for=(OSError,),  # SMTP down or refusing: retry with backoff
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=10,
)
def send_welcome_email(user_id: int) -> bool:
    """Send the welcome email of ``user_id`` (idempotent: at most one per user)."""
    return emails.send_welcome_email(user_id)


def welcome_email_signature(user_id: int) -> Any:
    """The task call for the outbox relay."""
    return send_welcome_email.s(user_id)
