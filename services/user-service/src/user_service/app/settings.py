"""The service's settings: every value comes from ``USER_SERVICE_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from alvin_grpc.server import ServerSettings
from alvin_python_lib.config import (
    BaseAppSettings,
    DatabaseSettings,
    RedisSettings,
    dev_default,
    load_settings,
)
from alvin_python_lib.telemetry import TelemetrySettings


class Settings(ServerSettings, DatabaseSettings, RedisSettings, TelemetrySettings, BaseAppSettings):
    """All settings of the user-service processes (gRPC server, worker, scheduler, manage)."""

    model_config = SettingsConfigDict(env_prefix="USER_SERVICE_")

    service_name: str = "user-service"

    # metrics_port (ServerSettings): each process (grpc, worker, scheduler) serves /metrics there.
    # Tracing and Sentry: otel_exporter, otel_endpoint, otel_sample_ratio, sentry_dsn
    # (TelemetrySettings; USER_SERVICE_OTEL_EXPORTER=none|console|otlp-grpc|otlp-http), defaults
    # that the standard OTEL_* variables (OTEL_TRACES_EXPORTER ...) override.

    # gRPC server: grpc_host, grpc_port, grpc_max_workers, grpc_grace_period_s, TLS, reflection
    # ... come from ServerSettings. Only the gRPC server uses the service credential, so only it
    # checks it: in staging and production it refuses to start without a token of 32 characters
    # or more (the development value is shorter), while the worker and scheduler need none.
    grpc_service_token: SecretStr | None = Field(
        default=SecretStr("dev-service-token"),
        description="credential that callers (the gateway) send in metadata; the gRPC server "
        "needs 32+ characters in staging and production",
    )
    health_check_interval_s: float = Field(default=5.0, gt=0)

    # passwords (argon2id); production-grade defaults, cheap ones in tests
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_cost_kib: int = Field(default=65536, ge=8)
    argon2_parallelism: int = Field(default=4, ge=1)
    argon2_max_concurrent: int = Field(
        default=2,
        ge=1,
        description="password hashes or checks at once (memory: this x memory cost)",
    )
    argon2_max_wait_s: float = Field(
        default=2.0,
        gt=0,
        description="how long a call waits for a hashing slot before it fails with "
        "RESOURCE_EXHAUSTED and retry info (the gateway answers RATE_LIMITED with retryAfter)",
    )

    # sessions: session_ttl_seconds is the idle timeout (a sliding session moves its expiry
    # forward when used), session_max_age_seconds the absolute lifetime (no refresh goes past it)
    session_ttl_seconds: int = Field(default=14 * 24 * 3600, ge=60)
    session_sliding: bool = True
    session_max_age_seconds: int = Field(default=30 * 24 * 3600, ge=60)

    # login throttling (README "Abuse limits"). Failures per (account, client address):
    # throttle_max_failures_per_email free ones per window, then growing delays (base doubled per
    # failure, capped). Per account from every address: a higher ceiling, then growing delays
    # capped low (never a lock a stranger could impose). Per address: a hard limit per window.
    throttle_window_seconds: int = Field(default=900, ge=1)
    throttle_max_failures_per_email: int = Field(default=5, ge=1)
    throttle_max_failures_per_ip: int = Field(default=50, ge=1)
    login_base_delay_seconds: float = Field(default=1.0, gt=0)
    login_max_delay_seconds: float = Field(default=900.0, gt=0)
    login_free_failures_per_account: int = Field(default=50, ge=1)
    login_max_account_delay_seconds: float = Field(default=30.0, gt=0)
    # signup throttling: signups per client address and in all, per window
    signup_window_seconds: int = Field(default=3600, ge=1)
    signup_max_per_ip: int = Field(default=10, ge=1)
    signup_max_global: int = Field(default=1000, ge=1)
    # wrong current passwords in changePassword per user per throttle window
    change_password_max_failures: int = Field(default=5, ge=1)

    # email
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=1025, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool | None = Field(
        default=None,
        description="STARTTLS with the relay's certificate and host name verified before anything "
        "is sent; default on in staging and production, off in development and test (the local "
        "catcher speaks plain SMTP)",
    )
    smtp_ca_file: Path | None = Field(
        default=None,
        description="PEM CA bundle for the relay's certificate (system roots when unset)",
    )
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)
    email_from: str = "Alvin <no-reply@example.com>"
    # refused unset when deployed: a link to localhost in a real email is a broken account flow
    public_url: str = dev_default(
        "http://localhost:8080",
        "base URL of the front end; emails link to PUBLIC_URL/verify-email?token= "
        "and PUBLIC_URL/reset-password?token= (https:// in production: the links carry tokens)",
    )

    # account emails' tokens and reset throttling
    reset_token_ttl_seconds: int = Field(default=3600, ge=60)
    verify_token_ttl_seconds: int = Field(default=48 * 3600, ge=60)
    reset_window_seconds: int = Field(default=3600, ge=1)
    reset_max_per_email: int = Field(default=3, ge=1)
    reset_max_per_ip: int = Field(default=20, ge=1)
    unverified_may_log_in: bool = Field(
        default=True,
        description="what an unverified user may do: true (the default) lets them log in and use "
        "every feature while User.emailVerified is false (clients can nag, and password resets "
        "still go to the address); false refuses their logins (FAILED_PRECONDITION) until they "
        "follow the verification link",
    )

    # background jobs
    outbox_relay_seconds: float = Field(default=2.0, gt=0)
    outbox_batch_size: int = Field(default=100, ge=1, le=10_000)
    session_purge_seconds: float = Field(default=3600.0, gt=0)
    task_visibility_timeout_s: float = Field(
        default=3600.0,
        gt=0,
        description="a task whose worker died unacknowledged is delivered again after this long",
    )

    @property
    def smtp_starttls_enabled(self) -> bool:
        """``smtp_starttls``, or the environment's default (on in staging and production)."""
        return self.smtp_starttls if self.smtp_starttls is not None else self.is_deployed

    @model_validator(mode="after")
    def _links_over_https_in_production(self) -> Settings:
        if self.app_env == "production" and not self.public_url.startswith("https://"):
            raise ValueError(
                f"{self.env_name('public_url')} must be an https:// URL in production: the "
                "emailed links carry single-use tokens"
            )
        return self

    @model_validator(mode="after")
    def _no_smtp_login_in_clear(self) -> Settings:
        has_credentials = self.smtp_username is not None or self.smtp_password is not None
        if self.is_deployed and has_credentials and not self.smtp_starttls_enabled:
            raise ValueError(
                f"{self.env_name('smtp_starttls')} is off: {self.app_env} does not send "
                f"{self.env_name('smtp_username')}/{self.env_name('smtp_password')} over plain SMTP"
            )
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, loaded once (a configuration error exits with one line)."""
    return load_settings(Settings)
