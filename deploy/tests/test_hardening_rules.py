"""container_rules.hardening: each hardening rule catches a compose file that breaks it.

The known-good file is test_compose_rules' (every service hardened, named networks); each case
breaks one rule and runs the real Compose v2 binary on it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_compose_rules import GOOD_COMPOSE, compose_problems, needs_compose

EDGE = """\
  proxy:
    <<: *hardened
    image: nginx:1.27.2-alpine
    restart: unless-stopped
    cap_add: [NET_BIND_SERVICE]
    networks: [edge]
    ports:
      - "127.0.0.1:8081:80"
    healthcheck:
      test: ["CMD", "wget", "-q", "http://127.0.0.1/"]
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "app.env").write_text("USER_SERVICE_SMTP_HOST=mail\n")
    return tmp_path


def with_proxy(compose: str) -> str:
    return compose.replace("volumes:\n  db-data:", EDGE + "volumes:\n  db-data:", 1)


@needs_compose
def test_an_edge_service_apart_from_the_data_tier_passes(project: Path) -> None:
    assert compose_problems(project, with_proxy(GOOD_COMPOSE)) == []


@needs_compose
@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("  read_only: true\n", "", "db: no read_only: true"),
        ("  read_only: true\n", "  read_only: false\n", "api: no read_only: true"),
        ("  cap_drop: [ALL]\n", "  cap_drop: [NET_RAW]\n", "migrate: no cap_drop: [ALL]"),
        ("  security_opt: [no-new-privileges:true]\n", "", "api: no security_opt"),
        (
            "    cap_add: [SETUID, SETGID]\n",
            "    cap_add: [SYS_ADMIN]\n",
            "['SYS_ADMIN'] is not in",
        ),
        (
            "    <<: *hardened\n    networks: [data]\n    image: ${APP_IMAGE",
            "    <<: *hardened\n    cap_add: [CHOWN]\n    networks: [data]\n    image: ${APP_IMAGE",
            "migrate: cap_add ['CHOWN'] on an image built here",
        ),
        ("    cap_add: [SETUID, SETGID]\n    networks: [data]\n", "", "db: on Compose's"),
        (
            "    networks: [edge]\n    ports",
            "    networks: [edge, data]\n    ports",
            "proxy: publishes",
        ),
        (
            "    networks: [edge]\n    ports",
            "    network_mode: host\n    ports",
            "proxy: network_mode",
        ),
    ],
)
def test_broken_hardening_is_caught(project: Path, old: str, new: str, expected: str) -> None:
    good = with_proxy(GOOD_COMPOSE)
    assert old in good
    problems = compose_problems(project, good.replace(old, new, 1))
    assert any(expected in p for p in problems), problems
