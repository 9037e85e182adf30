"""The gateway's settings: every value comes from ``GATEWAY_*`` environment variables."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

# From the package root: importing interceptors here would load prometheus_client before
# gunicorn_config points it at the multiprocess directory, and the workers' metrics would be lost.
from alvin_grpc import MIN_SERVICE_TOKEN_LENGTH
from alvin_python_lib.config import BaseAppSettings, CommaList, dev_default, load_settings
from alvin_python_lib.telemetry import TelemetrySettings

_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
HOST_COOKIE_PREFIX = "__Host-"
COOKIE_PREFIXES = ("__host-", "__secure-")
DEFAULT_HSTS_MAX_AGE_S = 365 * 24 * 3600
DEFAULT_CORS_ALLOW_HEADERS = (
    "Authorization",
    "Content-Type",
    "X-Request-ID",
    # the CSRF rule's preflight headers (web.csrf)
    "X-Requested-With",
    "Apollo-Require-Preflight",
    "X-Apollo-Operation-Name",
    # what browser tracing sends: W3C trace context and baggage, Sentry's SDK
    "traceparent",
    "tracestate",
    "baggage",
    "sentry-trace",
    # Apollo Client's client awareness
    "apollographql-client-name",
    "apollographql-client-version",
)


class Settings(TelemetrySettings, BaseAppSettings):
    """All settings of the gateway processes (gunicorn workers, the development server)."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_")

    service_name: str = "gateway-graphql"

    # HTTP server (gunicorn with `gateway serve`; `gateway runserver` uses host and port only)
    host: str = Field(default="0.0.0.0", description="address gunicorn binds")  # noqa: S104
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=2, ge=1, description="gunicorn worker processes")
    threads: int = Field(default=8, ge=1, description="request threads per worker (gthread)")
    timeout_s: float = Field(
        default=30.0, gt=0, description="gunicorn kills a worker silent for this long"
    )
    graceful_timeout_s: float = Field(
        default=10.0, ge=0, description="in-flight requests get this long at shutdown"
    )
    keepalive_s: float = Field(default=5.0, ge=0, description="idle keep-alive connections")
    proxy_hops: int = Field(
        default=0,
        ge=0,
        le=5,
        description="reverse proxies in front (nginx, a load balancer: 1) whose X-Forwarded-For "
        "and X-Forwarded-Proto are trusted; X-Forwarded-Host and -Port never are",
    )

    # observability: tracing and Sentry come from TelemetrySettings (GATEWAY_OTEL_EXPORTER=none|
    # console|otlp-grpc|otlp-http, GATEWAY_OTEL_ENDPOINT, GATEWAY_OTEL_SAMPLE_RATIO, GATEWAY_SENTRY_DSN);
    # the standard OTEL_* variables (OTEL_TRACES_EXPORTER ...) override the GATEWAY_OTEL_* ones
    metrics_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="serve Prometheus /metrics on this port (gunicorn: the master, for all workers)",
    )
    metrics_max_operation_names: int = Field(
        default=100,
        ge=0,
        description="distinct GraphQL operation names used as label values; later ones: 'other'",
    )

    # the user-service
    user_service_target: str = Field(
        default="127.0.0.1:50051",
        description="host:port of the user-service's gRPC API (or ipv4:h1:p1,h2:p2, dns:///name)",
    )
    user_service_load_balancing: str | None = Field(
        default=None,
        pattern=r"^(pick_first|round_robin)$",
        description="gRPC LB policy over the target's addresses: round_robin or pick_first",
    )
    user_service_max_reconnect_backoff_s: float = Field(
        default=2.0,
        gt=0,
        description="longest wait between reconnection attempts to a user-service address that "
        "went away (a restarted replica gets calls again within about this long)",
    )
    user_service_token: SecretStr = dev_default(
        SecretStr("dev-service-token"),
        "service credential sent to the user-service (its USER_SERVICE_GRPC_SERVICE_TOKEN)",
    )
    user_service_timeout_s: float = Field(
        default=2.0, gt=0, description="default deadline of every call (all retries included)"
    )
    user_service_max_attempts: int = Field(
        default=3, ge=1, le=5, description="attempts of idempotent calls that got UNAVAILABLE"
    )
    user_service_tls: bool = False
    user_service_ca_file: Path | None = Field(
        default=None, description="PEM CA bundle for TLS (system roots when unset)"
    )
    readiness_timeout_s: float = Field(
        default=1.0, gt=0, description="deadline of the user-service health check in /readyz"
    )

    # GraphQL
    graphiql: bool | None = Field(
        default=None, description="GraphiQL at GET /graphql; default on in development only"
    )
    introspection: bool | None = Field(
        default=None, description="schema introspection; default on in development only"
    )
    max_query_depth: int = Field(default=10, ge=1, description="deepest field nesting")
    max_query_fields: int = Field(
        default=200, ge=1, description="field selections per operation (fragments expanded)"
    )
    max_query_aliases: int = Field(default=30, ge=0, description="aliased fields per operation")
    max_query_tokens: int = Field(default=5000, ge=100, description="lexical tokens per document")
    document_cache_size: int = Field(
        default=256,
        ge=0,
        description="parsed and validated documents kept per worker (LRU; 0 turns it off)",
    )
    max_body_bytes: int = Field(
        default=64 * 1024, ge=1024, description="larger request bodies get 413"
    )
    default_page_size: int = Field(default=20, ge=1, description="users(first:) when omitted")
    max_page_size: int = Field(
        default=100, ge=1, le=100, description="users(first:) and nodes(ids:) are capped here"
    )

    # sessions and browsers
    session_cookie_name: str = Field(
        default="gateway_session",
        pattern=r"^[A-Za-z0-9_-]+$",
        description="the cookie's name, sent as __Host-<name> where the cookie is Secure",
    )
    session_sliding: bool = Field(
        default=True, description="extend the session when it is used (ValidateSession refresh)"
    )
    hsts_max_age_s: int | None = Field(
        default=None,
        ge=0,
        description="Strict-Transport-Security max-age; default a year in staging/production, "
        "none elsewhere; 0 sends no header",
    )
    hsts_include_subdomains: bool = Field(
        default=True, description="Strict-Transport-Security covers the host's subdomains too"
    )
    cors_origins: CommaList = Field(
        default=(),
        description="origins allowed to call with credentials, e.g. https://app.example.com; a,b",
    )

    cors_allow_headers: CommaList = Field(
        default=DEFAULT_CORS_ALLOW_HEADERS,
        description="request headers other origins may send (the preflight's allow-list): the "
        "GraphQL, CSRF, tracing (W3C trace context, baggage, Sentry) and Apollo client headers",
    )

    @field_validator("session_cookie_name")
    @classmethod
    def _check_cookie_name(cls, value: str) -> str:
        if value.lower().startswith(COOKIE_PREFIXES):
            raise ValueError(
                f"{value!r}: give the name without a prefix (the gateway adds __Host-)"
            )
        return value

    @field_validator("cors_allow_headers")
    @classmethod
    def _check_header_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if not _HEADER_NAME.match(name):
                raise ValueError(f"{name!r} is not an HTTP header name")
        return value

    @field_validator("cors_origins")
    @classmethod
    def _check_origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            parts = urlsplit(origin)
            if (
                parts.scheme not in ("http", "https")
                or not parts.netloc
                or parts.path
                or parts.query
                or parts.fragment
            ):
                raise ValueError(
                    f"{origin!r} is not an origin (scheme://host[:port]; no '*', no path)"
                )
        return tuple(origin.lower() for origin in value)

    @model_validator(mode="after")
    def _strong_service_token_when_deployed(self) -> Settings:
        # The user-service refuses a shorter token in the same environments.
        token = self.user_service_token.get_secret_value()
        if self.is_deployed and len(token) < MIN_SERVICE_TOKEN_LENGTH:
            raise ValueError(
                f"{self.env_name('user_service_token')} is too short for {self.app_env}: at "
                f"least {MIN_SERVICE_TOKEN_LENGTH} characters"
            )
        return self

    @property
    def graphiql_enabled(self) -> bool:
        """GraphiQL is served: explicitly, or by default in development."""
        return self.graphiql if self.graphiql is not None else self.app_env == "development"

    @property
    def introspection_enabled(self) -> bool:
        """Introspection queries are answered: explicitly, or by default in development."""
        if self.introspection is not None:
            return self.introspection
        return self.app_env == "development"

    @property
    def cookie_secure(self) -> bool:
        """The session cookie is ``Secure`` everywhere but in development (plain http)."""
        return self.app_env != "development"

    @property
    def effective_session_cookie_name(self) -> str:
        """The session cookie's name: ``__Host-<name>`` where it is ``Secure``, which pins it to
        this host (no ``Domain``, ``Path=/``, https only), so a sibling subdomain or a page on
        plain http cannot plant or overwrite it. A browser refuses ``__Host-`` without
        ``Secure``, so local http development keeps the plain name."""
        if self.cookie_secure:
            return HOST_COOKIE_PREFIX + self.session_cookie_name
        return self.session_cookie_name

    @property
    def effective_hsts_max_age_s(self) -> int:
        """Strict-Transport-Security's max-age: the setting, else a year where deployed (https),
        else 0 (no header: local development is plain http)."""
        if self.hsts_max_age_s is not None:
            return self.hsts_max_age_s
        return DEFAULT_HSTS_MAX_AGE_S if self.is_deployed else 0


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, loaded once (a configuration error exits with one line)."""
    return load_settings(Settings)
