"""Settings on pydantic-settings, with production guards.

Every service subclasses :class:`BaseAppSettings` (adding :class:`DatabaseSettings` /
:class:`RedisSettings` as needed), sets its env prefix, and loads it once with :func:`load_settings`::

    class Settings(DatabaseSettings, BaseAppSettings):
        model_config = SettingsConfigDict(env_prefix="USER_SERVICE_")
        token_secret: SecretStr = dev_default(SecretStr("dev-only-secret"))

    settings = load_settings(Settings)

- ``APP_ENV`` (never prefixed) is ``development``, ``test``, ``staging`` or ``production``.
- A ``.env`` file in the working directory is read only in development.
- Secrets are ``SecretStr``: they show as ``**********`` in ``repr`` and logs.
- In staging and production, start-up fails when ``debug`` is on or when any field declared with
  :func:`dev_default` still holds that default (e.g. a development secret).
- In production, start-up also fails when any text setting (a secret, a URL with its password)
  holds a placeholder: a value containing one of :data:`PLACEHOLDER_MARKERS`, the mark every
  placeholder of the kit carries (docker-compose.yml, .env.example). Staging accepts them: the
  local compose stack runs as staging with its placeholders.
- A missing or invalid variable stops start-up with one line naming the variable.
"""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AliasChoices,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = [
    "PLACEHOLDER_MARKERS",
    "AppEnv",
    "BaseAppSettings",
    "CommaList",
    "DatabaseSettings",
    "RedisSettings",
    "SettingsError",
    "dev_default",
    "load_settings",
    "placeholder_settings",
    "unsafe_settings",
]

AppEnv = Literal["development", "test", "staging", "production"]
DEPLOYED_ENVS: frozenset[str] = frozenset({"staging", "production"})
_DEV_DEFAULT = "alvin_dev_default"
#: Marks of a placeholder value (compared case-insensitively); production refuses a setting that
#: contains one. Every placeholder secret of the kit's compose files says ``dev-only``.
PLACEHOLDER_MARKERS: tuple[str, ...] = ("dev-only", "change-me", "changeme")

S = TypeVar("S", bound="BaseAppSettings")


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


#: A list setting written ``a,b,c`` in the environment (blanks trimmed, empty items dropped).
CommaList = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_split_commas)]


class SettingsError(SystemExit):
    """Start-up configuration error: exits the process with one readable line (no traceback)."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(f"configuration error: {message}")


def dev_default(default: Any, description: str | None = None) -> Any:
    """A default that is fine for development but refused in staging and production."""
    return Field(default=default, description=description, json_schema_extra={_DEV_DEFAULT: True})


class BaseAppSettings(BaseSettings):
    """Settings every process has: environment, debug, logging, service identity."""

    model_config = SettingsConfigDict(
        extra="ignore", env_nested_delimiter="__", validate_default=True, frozen=True
    )

    app_env: AppEnv = Field(
        default="development", validation_alias=AliasChoices("APP_ENV", "app_env")
    )
    debug: bool = False
    service_name: str = "app"
    log_level: str = "INFO"
    log_format: Literal["json", "console"] | None = Field(
        default=None, description="json or console; default json in staging/production"
    )

    @property
    def is_deployed(self) -> bool:
        """True in staging and production."""
        return self.app_env in DEPLOYED_ENVS

    @property
    def effective_log_format(self) -> Literal["json", "console"]:
        """``log_format`` or the environment's default."""
        if self.log_format is not None:
            return self.log_format
        return "json" if self.is_deployed else "console"

    @model_validator(mode="after")
    def _refuse_unsafe_defaults(self) -> BaseAppSettings:
        if self.is_deployed:
            unsafe = unsafe_settings(self)
            if unsafe:
                raise ValueError(
                    f"unsafe for {self.app_env}: " + ", ".join(unsafe) + " (set them in the env)"
                )
        if self.app_env == "production":
            placeholders = placeholder_settings(self)
            if placeholders:
                raise ValueError(
                    "placeholder values refused in production: "
                    + ", ".join(placeholders)
                    + " (set real ones from the secret store)"
                )
        return self

    @classmethod
    def env_name(cls, field: str) -> str:
        """The environment variable that sets ``field``."""
        info = cls.model_fields[field]
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            first = alias.choices[0]
            if isinstance(first, str):
                return first
        if isinstance(alias, str):
            return alias
        prefix = str(cls.model_config.get("env_prefix") or "")
        return f"{prefix}{field}".upper()


class DatabaseSettings(BaseSettings):
    """PostgreSQL connection settings (mix into a BaseAppSettings subclass)."""

    database_url: str = Field(description="SQLAlchemy or libpq URL of the PostgreSQL database")
    database_pool_size: int = Field(default=5, ge=1)
    database_max_overflow: int = Field(default=10, ge=0)
    database_statement_timeout_ms: int = Field(default=10_000, ge=0)


class RedisSettings(BaseSettings):
    """Redis URL (Celery broker, caches, rate limits)."""

    redis_url: str = Field(description="redis://host:port/db or unix:///path?db=0")


def unsafe_settings(settings: BaseAppSettings) -> list[str]:
    """Env var names of settings that must not be used outside development."""
    found: list[str] = []
    if settings.debug:
        found.append(type(settings).env_name("debug"))
    for name, info in type(settings).model_fields.items():
        extra = info.json_schema_extra
        if not (isinstance(extra, dict) and extra.get(_DEV_DEFAULT)):
            continue
        value, default = getattr(settings, name), info.default
        if isinstance(value, SecretStr) and isinstance(default, SecretStr):
            same = value.get_secret_value() == default.get_secret_value()
        else:
            same = value == default
        if same:
            found.append(type(settings).env_name(name))
    return found


def placeholder_settings(settings: BaseAppSettings) -> list[str]:
    """Env var names of text settings whose value contains a :data:`PLACEHOLDER_MARKERS` mark."""
    found: list[str] = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(text, str) and any(m in text.lower() for m in PLACEHOLDER_MARKERS):
            found.append(type(settings).env_name(name))
    return found


def load_settings(cls: type[S], **overrides: Any) -> S:
    """Build ``cls`` from the environment (and ``.env`` in development), failing with one line."""
    app_env = overrides.get("app_env") or os.environ.get("APP_ENV", "development")
    env_file = ".env" if app_env == "development" else None
    try:
        return cls(_env_file=env_file, **overrides)  # type: ignore[call-arg]
    except ValidationError as exc:
        raise SettingsError(_describe(cls, exc)) from None


def _describe(cls: type[BaseAppSettings], exc: ValidationError) -> str:
    parts: list[str] = []
    for error in exc.errors():
        loc = [str(x) for x in error.get("loc", ())]
        field = loc[0] if loc else ""
        name = cls.env_name(field) if field in cls.model_fields else field.upper()
        if error.get("type") == "missing":
            parts.append(f"missing required setting {name}")
        elif not loc:
            parts.append(str(error.get("msg", "")).removeprefix("Value error, "))
        else:
            parts.append(f"invalid {name}: {error.get('msg')}")
    return "; ".join(parts)
