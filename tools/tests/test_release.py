from pathlib import Path

import pytest

from tools import release
from tools.tests.helpers import make_package


@pytest.mark.parametrize(
    ("part", "expected"), [("major", "1.0.0"), ("minor", "0.3.0"), ("patch", "0.2.4")]
)
def test_bump(part: str, expected: str) -> None:
    assert release.bump("0.2.3", part) == expected


def test_release_moves_unreleased_under_the_new_version(tmp_path: Path) -> None:
    package = make_package(tmp_path, "libs", "alvin-thing")
    changelog = package / "CHANGELOG.md"
    changelog.write_text(
        changelog.read_text().replace(
            "## [Unreleased]\n", "## [Unreleased]\n\n### Fixed\n- A bug.\n"
        )
    )
    assert (
        release.main(["alvin-thing", "minor", "--date", "2026-12-01", "--root", str(tmp_path)]) == 0
    )
    init = (package / "src" / "alvin_thing" / "__init__.py").read_text()
    assert '__version__ = "0.2.0"' in init
    assert init.endswith('__version__ = "0.2.0"\n')  # the file keeps its last newline
    text = changelog.read_text()
    assert "## [Unreleased]\n\n## [0.2.0] - 2026-12-01\n\n### Fixed\n- A bug.\n\n## [0.1.0]" in text
    assert release.unreleased_body(text) == ""


def test_release_refuses_an_empty_unreleased_section_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    package = make_package(tmp_path, "libs", "alvin-thing")
    before = (package / "src" / "alvin_thing" / "__init__.py").read_text()
    assert release.main(["alvin-thing", "patch", "--root", str(tmp_path)]) == 1
    assert "Unreleased section is empty" in capsys.readouterr().err
    assert (package / "src" / "alvin_thing" / "__init__.py").read_text() == before


def test_release_finds_packages_by_folder_or_distribution_name(tmp_path: Path) -> None:
    make_package(tmp_path, "services", "user-service")
    assert release.find_package("user-service", tmp_path).name == "user-service"
    with pytest.raises(release.ReleaseError, match="no package named"):
        release.find_package("nope", tmp_path)


def test_the_kit_packages_have_a_version_and_an_unreleased_section() -> None:
    for kind in ("libs", "services"):
        for pyproject in (release.ROOT / kind).glob("*/pyproject.toml"):
            package = pyproject.parent
            release.read_version(release.version_file(package).read_text())
            release.unreleased_body((package / "CHANGELOG.md").read_text())
