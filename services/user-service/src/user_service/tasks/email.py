"""Email tasks."""

from __future__ import annotations

from typing import Any

from celery import shared_task  # type: ignore[import-untyped]

from alvin_python_lib.tasks import IdempotentTask
from user_service.service import account_mail, emails
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


@shared_task(  # type: ignore[untyped-decorator]  # celery is untyped
    bind=True,
    base=IdempotentTask,
    name="user_service.send_account_email",
    autoretry_for=(OSError,),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=10,
)
def send_account_email(self: IdempotentTask, message_id: int, payload: dict[str, Any]) -> bool:
    """Send the account email of outbox message ``message_id`` (at most once per message)."""
    return account_mail.send_account_email(deps_of(self.app), message_id, payload)
