from pathlib import Path

import pytest
from packaging.version import Version

from kit.tools import polyrepo


def test_services_that_other_services_install_go_on_the_index() -> None:
    # the gateway's tests run the real user-service; one-process installs both services
    services = sorted(p.parent for p in (polyrepo.ROOT / "services").glob("*/pyproject.toml"))
    assert [s.name for s in polyrepo.depended_services(services)] == [
        "gateway-graphql",
        "user-service",
    ]


def test_lowest_versions_allowed_by_the_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    on_index = {
        "alvin-python-lib": ["0.1.0", "0.1.3", "0.2.0", "0.2.1", "0.2.2", "0.3.0"],
        "alvin-grpc-py": ["0.1.0", "0.2.0", "0.3.0", "0.3.1"],
        "alvin-protos": ["0.1.0"],
    }
    monkeypatch.setattr(
        polyrepo, "index_versions", lambda url, name: [Version(v) for v in on_index[name]]
    )
    service = polyrepo.ROOT / "services" / "user-service"
    pins, several = polyrepo.lowest_constraints(service, "http://x", sorted(on_index))
    # the user-service asks for alvin-grpc-py>=0.3,<0.4 and alvin-python-lib>=0.2.1,<0.3
    assert pins == ["alvin-grpc-py==0.3.0", "alvin-protos==0.1.0", "alvin-python-lib==0.2.1"]
    assert several == ["alvin-grpc-py", "alvin-python-lib"]


def test_pip_runs_without_the_machine_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIP_FIND_LINKS", "/opt/wheels")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "file:///opt/pypi/simple")
    monkeypatch.setenv("PIP_CERT", "/etc/ssl/certs/ca-certificates.crt")
    env = polyrepo.isolated_pip_env(tmp_path)
    assert "PIP_FIND_LINKS" not in env
    assert "PIP_EXTRA_INDEX_URL" not in env
    assert env["PIP_CONFIG_FILE"] == polyrepo.os.devnull
    assert env["PIP_CERT"] == "/etc/ssl/certs/ca-certificates.crt"
    assert env["PATH"].startswith(str(tmp_path / "bin"))


def test_test_requirements_come_from_the_dependency_group() -> None:
    gateway = polyrepo.ROOT / "services" / "gateway-graphql"
    names = {r.name for r in polyrepo.service_requirements(gateway)}
    assert {"user-service", "pytest", "flask"} <= names


def test_included_groups_are_expanded() -> None:
    pyproject = {
        "dependency-groups": {
            "Test": ["pytest>=8", {"include-group": "typing"}],
            "typing": ["mypy"],
        }
    }
    assert polyrepo.group_requirements(pyproject, "test") == ["pytest>=8", "mypy"]
