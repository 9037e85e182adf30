"""Worker burst: ``--signups`` CreateUser calls, 8 in flight, until every welcome email arrived;
latency from each user's commit to the SMTP catcher writing its email (outbox row -> scheduler
relay tick -> Redis -> Celery worker -> SMTP), p50 and p99, and emails/s."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from harness import DEV_TOKEN, PASSWORD, Results, Stack, percentile, stack_env


def _delivered(mail_dir: Path) -> dict[str, float]:
    """Recipient -> the time its message was written by the SMTP catcher (epoch seconds)."""
    from email import message_from_bytes
    from email.utils import parseaddr

    seen: dict[str, float] = {}
    for path in mail_dir.glob("*.eml"):
        try:
            recipient = parseaddr(str(message_from_bytes(path.read_bytes())["To"]))[1].lower()
            seen.setdefault(recipient, path.stat().st_mtime)
        except (OSError, TypeError, ValueError):
            continue  # a message still being written: read on the next poll
    return seen


def bench_worker(stack: Stack, results: Results, count: int) -> None:
    """A burst of ``count`` signups (CreateUser, 8 in flight) until every welcome email arrived.

    Latency: the user's ``created_at`` (the signup's commit, stamped by the user-service) to the
    time the SMTP catcher wrote the message, through outbox row -> scheduler relay tick -> Redis
    -> Celery worker -> SMTP.
    """
    from concurrent.futures import ThreadPoolExecutor

    from alvin_grpc.client import create_channel
    from alvin_protos.alvin.user.v1 import user_service_pb2, user_service_pb2_grpc

    env = stack_env(stack)
    prefix = f"burst-{uuid.uuid4().hex[:8]}"
    channel = create_channel(
        stack.grpc_target, token=env.get("USER_SERVICE_GRPC_SERVICE_TOKEN", DEV_TOKEN)
    )
    stub = user_service_pb2_grpc.UserServiceStub(channel)
    committed: dict[str, float] = {}

    def signup(n: int) -> None:
        email = f"{prefix}-{n}@example.com"
        reply = stub.CreateUser(
            user_service_pb2.CreateUserRequest(
                email=email, password=PASSWORD, display_name=f"Burst {n}"
            ),
            timeout=60,
        )
        committed[email] = reply.user.created_at.ToNanoseconds() / 1e9

    started = time.time()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(signup, range(count)))
    signups_done = time.time()
    channel.close()
    deadline = time.monotonic() + 120 + count * 0.05
    delivered: dict[str, float] = {}
    while time.monotonic() < deadline:
        delivered = {k: v for k, v in _delivered(stack.mail_dir).items() if k.startswith(prefix)}
        if len(delivered) >= count:
            break
        time.sleep(0.25)  # polling interval
    latencies = [delivered[e] - committed[e] for e in committed if e in delivered]
    if len(delivered) < count:
        results.notes.append(f"worker: only {len(delivered)} of {count} emails within the deadline")
    last = max(delivered.values(), default=signups_done)
    relay_s = float(env.get("USER_SERVICE_OUTBOX_RELAY_SECONDS", "2"))
    results.info.append(
        (
            f"signup -> welcome email, burst of {count}",
            f"p50 {percentile(latencies, 0.5) * 1000:.0f} ms, p99 "
            f"{percentile(latencies, 0.99) * 1000:.0f} ms (outbox relay tick {relay_s:g} s)",
        )
    )
    results.info.append(
        (
            f"burst of {count} signups (CreateUser, 8 in flight)",
            f"{count / (signups_done - started):.1f} signups/s (argon2 bound); "
            f"{len(delivered) / max(last - started, 1e-9):.1f} emails/s from the first signup "
            f"to the last email; last email {max(last - signups_done, 0):.1f} s after the last "
            "signup",
        )
    )
    results.figures["worker"] = {
        "count": count,
        "delivered": len(delivered),
        "latency_p50_s": percentile(latencies, 0.5),
        "latency_p99_s": percentile(latencies, 0.99),
        "signups_s": signups_done - started,
        "drain_after_last_signup_s": max(last - signups_done, 0),
    }
