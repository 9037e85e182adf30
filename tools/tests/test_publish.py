import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from tools import publish


def test_default_index_url() -> None:
    assert publish.default_index_url("http://127.0.0.1:8080/") == "http://127.0.0.1:8080/simple/"
    assert (
        publish.default_index_url("https://pkgs.example.com/legacy/")
        == "https://pkgs.example.com/simple/"
    )


def _built(
    tmp_path: Path, *, typed: bool = True, tests: bool = False, version: str = "0.1.0"
) -> publish.Built:
    wheel = tmp_path / "alvin_core-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("alvin_core/__init__.py", "")
        if typed:
            archive.writestr("alvin_core/py.typed", "")
        if tests:
            archive.writestr("alvin_core/tests/test_x.py", "")
        archive.writestr(
            "alvin_core-0.1.0.dist-info/METADATA",
            f"Metadata-Version: 2.4\nName: alvin-core\nVersion: {version}\n",
        )
    sdist = tmp_path / "alvin_core-0.1.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as archive:
        data = b"Metadata-Version: 2.4\nName: alvin-core\nVersion: 0.1.0\n"
        info = tarfile.TarInfo("alvin_core-0.1.0/PKG-INFO")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return publish.Built(tmp_path, "alvin-core", "0.1.0", "alvin_core", wheel, sdist)


@pytest.fixture
def no_twine(monkeypatch: pytest.MonkeyPatch) -> None:
    class Done:
        returncode = 0
        stdout = stderr = ""

    monkeypatch.setattr(publish.subprocess, "run", lambda *a, **k: Done())


@pytest.mark.usefixtures("no_twine")
def test_check_accepts_a_good_wheel(tmp_path: Path) -> None:
    publish.check(_built(tmp_path))


@pytest.mark.usefixtures("no_twine")
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"typed": False}, "py.typed"),
        ({"tests": True}, "ships tests"),
        ({"version": "0.2.0"}, "METADATA"),
    ],
)
def test_check_refuses(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(publish.PublishError, match=message):
        publish.check(_built(tmp_path, **kwargs))  # type: ignore[arg-type]


def test_already_published_reads_the_simple_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = ["alvin_core-0.1.0-py3-none-any.whl", "alvin_core-0.0.9.tar.gz", "README"]
    monkeypatch.setattr(publish, "existing_files", lambda url, name: files)
    built = _built(tmp_path)
    assert publish.already_published("http://x/simple/", built) == [files[0]]
    built.version = "0.1.1"
    assert publish.already_published("http://x/simple/", built) == []


def test_publish_uploads_nothing_when_one_version_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good, taken = tmp_path / "good", tmp_path / "taken"
    good.mkdir()
    taken.mkdir()
    built = {good: _built(good), taken: _built(taken)}
    built[good].name = "alvin-good"
    monkeypatch.setattr(publish, "build", lambda package, outdir: built[package])
    monkeypatch.setattr(publish, "check", lambda item: None)
    monkeypatch.setattr(
        publish,
        "already_published",
        lambda url, item: ["alvin_core-0.1.0.tar.gz"] if item.name == "alvin-core" else [],
    )
    uploads: list[object] = []
    monkeypatch.setattr(publish, "upload", lambda url, files: uploads.append(files))
    with pytest.raises(publish.PublishError, match=r"nothing was uploaded:\n  alvin-core"):
        publish.publish([good, taken], "http://127.0.0.1:1/")
    assert uploads == []
