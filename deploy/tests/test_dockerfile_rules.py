"""container_rules.dockerfile and .images: each rule catches a broken Dockerfile (``nox -s compose``).

Each negative test breaks one rule of a known-good Dockerfile and expects the checker to name it;
the known-good input must pass untouched.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from container_rules.dockerfile import check_dockerfile, expand_args
from container_rules.images import image_pin_problem

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
    return check_dockerfile(text)


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
    problems = check_dockerfile(text, tmp_path)
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
    assert (image_pin_problem(ref) is None) is ok


SHARED = """\
FROM python:3.11.10-slim-bookworm AS builder
ARG SERVICE
COPY services/${SERVICE}/ services/${SERVICE}/
FROM python:3.11.10-slim-bookworm AS runtime
ARG SERVICE
ARG SCRIPT=${SERVICE}
ARG GROUP=10001
ENV PYTHONUNBUFFERED=1
RUN ln -s "/opt/venv/bin/${SCRIPT}" /opt/venv/bin/manage
USER 10001:${GROUP}
STOPSIGNAL SIGTERM
ENTRYPOINT ["manage"]
"""


def test_build_args_and_defaults_are_expanded() -> None:
    text = expand_args(SHARED, {"SERVICE": "billing-service"})
    assert "COPY services/billing-service/ services/billing-service/" in text
    assert '"/opt/venv/bin/billing-service"' in text  # SCRIPT's default uses SERVICE
    assert "USER 10001:10001" in text
    assert '"/opt/venv/bin/billing"' in expand_args(SHARED, {"SERVICE": "x", "SCRIPT": "billing"})
    assert "$PATH" in expand_args("ARG A\nENV PATH=/opt/venv/bin:$PATH\n")  # not an ARG


def test_rules_read_the_build_args(tmp_path: Path) -> None:
    (tmp_path / "services" / "billing-service").mkdir(parents=True)
    assert check_dockerfile(SHARED, tmp_path, {"SERVICE": "billing-service"}) == []
    problems = check_dockerfile(SHARED, tmp_path, {"SERVICE": "nope"})
    assert any("COPY source 'services/nope/'" in p for p in problems), problems
    problems = check_dockerfile(SHARED, tmp_path, {"SERVICE": "billing-service", "GROUP": "0"})
    assert any("has the root group" in p for p in problems), problems
