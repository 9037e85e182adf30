"""container_rules.builds: every service is built, with arguments that fit it.

Compose's model is written by hand here (the shape ``docker-compose config --format json``
gives: absolute build context, the Dockerfile relative to it, the args as strings).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from container_rules.builds import check_builds, needed_libs

DOCKERFILE = """\
FROM python:3.11.10-slim-bookworm AS builder
ARG SERVICE
COPY libs/ libs/
COPY services/${SERVICE}/ services/${SERVICE}/
FROM python:3.11.10-slim-bookworm AS runtime
ARG SERVICE
ARG SCRIPT=${SERVICE}
ENV PYTHONUNBUFFERED=1
RUN ln -s "/opt/venv/bin/${SCRIPT}" /opt/venv/bin/manage
USER 10001:10001
STOPSIGNAL SIGTERM
ENTRYPOINT ["manage"]
"""


def _package(folder: Path, name: str, body: str = "") -> None:
    folder.mkdir(parents=True)
    (folder / "pyproject.toml").write_text(f'[project]\nname = "{name}"\n{body}')


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """libs a, b (needs a; its extra x needs c), c, d; the service svc needs b[x]."""
    _package(tmp_path / "libs" / "a", "acme-a")
    _package(
        tmp_path / "libs" / "b",
        "acme_b",
        'dependencies = ["acme-a>=1,<2"]\n[project.optional-dependencies]\nx = ["acme-c"]\n',
    )
    _package(tmp_path / "libs" / "c", "acme-c")
    _package(tmp_path / "libs" / "d", "acme-d")
    _package(
        tmp_path / "services" / "svc",
        "svc",
        'dependencies = ["Acme.B[x] >=1", "requests>=2"]\n[project.scripts]\nsvc-cli = "svc:main"\n',
    )
    (tmp_path / "service.Dockerfile").write_text(DOCKERFILE)
    return tmp_path


def _config(root: Path, **args: str) -> dict[str, Any]:
    build = {"context": str(root), "dockerfile": "service.Dockerfile"}
    given = {"SERVICE": "svc", "SCRIPT": "svc-cli", "LIBS": "a b c"} | args
    build["args"] = {k: v for k, v in given.items() if v is not None}  # type: ignore[assignment]
    # two compose services, one image
    return {"services": {"migrate": {"build": build}, "api": {"build": build}}}


def test_needed_libs_follow_dependencies_and_extras(root: Path) -> None:
    assert needed_libs(root, root / "services" / "svc") == {"a", "b", "c"}


def test_good_builds_pass(root: Path) -> None:
    problems, notes = check_builds(root, _config(root))
    assert problems == []
    assert notes == ["Dockerfiles: service.Dockerfile with the args of svc"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"LIBS": "a b"}, "build arg LIBS lacks c, which services/svc needs"),
        ({"LIBS": "a b c d"}, "build arg LIBS names d, which services/svc does not need"),
        ({"SCRIPT": "svc"}, "'svc' is not a console script of services/svc"),
        ({"SERVICE": "nope"}, "build arg SERVICE=nope is not a folder of services/"),
        # the Dockerfile's own rules, read with the service's args
        ({"SERVICE": "nope"}, "COPY source 'services/nope/' is not in the build context"),
    ],
)
def test_broken_build_args_are_caught(root: Path, args: dict[str, str], expected: str) -> None:
    problems, _ = check_builds(root, _config(root, **args))
    assert any(expected in p for p in problems), problems


def test_a_service_nobody_builds_is_caught(root: Path) -> None:
    _package(root / "services" / "other", "other")
    problems, _ = check_builds(root, _config(root))
    assert problems == [
        "services/other is not built by docker-compose.yml or a variant (a build with the arg "
        "SERVICE: other)"
    ]


def test_a_composition_bundles_the_services_it_runs(root: Path) -> None:
    """A service depending on another (one process running both) names it in BUNDLES, and
    LIBS covers the bundled service's libraries; a variant file may be the one that builds it."""
    _package(
        root / "services" / "both",
        "both",
        'dependencies = ["svc>=0.1", "acme-d"]\n[project.scripts]\nboth = "both:main"\n',
    )
    assert needed_libs(root, root / "services" / "both") == {"a", "b", "c", "d"}
    variant = _config(root, SERVICE="both", SCRIPT="both", LIBS="a b c d", BUNDLES="svc")
    problems, _ = check_builds(root, _config(root), [variant])
    assert problems == []
    wrong = _config(root, SERVICE="both", SCRIPT="both", LIBS="a b c d")
    problems, _ = check_builds(root, _config(root), [wrong])
    assert any("build arg BUNDLES is (empty); services/both depends on svc" in p for p in problems)
