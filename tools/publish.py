"""Build, check and upload the kit's libraries to a package index (``nox -s publish``).

    python tools/publish.py --repository-url https://pypi.example.com/ [PACKAGE_DIR ...]

1. Build an sdist and a wheel of each package (default: every folder under ``libs/``) with
   ``python -m build`` into a fresh folder.
2. Check them: ``twine check --strict``; the wheel holds ``<import name>/py.typed`` and no
   ``tests/``; the wheel's and the sdist's metadata name and version match the project's.
3. Ask the index whether any of these versions exists already (its simple page,
   ``--index-url``, default: the repository URL's ``/simple/``). If one does, stop with its name
   and upload nothing: a published version is immutable, release a new one.
4. Upload everything with ``twine upload``. Credentials come only from ``TWINE_USERNAME`` /
   ``TWINE_PASSWORD`` (or twine's keyring support); they are never put on a command line or
   printed. The index check sends them as HTTP basic auth when they are set.
"""

from __future__ import annotations

import argparse
import base64
import email.parser
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename
from packaging.version import Version

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.release import read_version, version_file

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent


class PublishError(Exception):
    """Publishing must stop; the message says why."""


@dataclass
class Built:
    package: Path
    name: str  # canonical distribution name
    version: str
    import_name: str
    wheel: Path
    sdist: Path

    @property
    def files(self) -> list[Path]:
        return [self.wheel, self.sdist]


def project_info(package: Path) -> tuple[str, str, str]:
    """(canonical name, version, import name) read from the package's own files."""
    with (package / "pyproject.toml").open("rb") as file:
        data = tomllib.load(file)
    version = read_version(version_file(package).read_text())
    paths = data["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    return canonicalize_name(data["project"]["name"]), version, Path(paths[0]).name


def build(package: Path, outdir: Path) -> Built:
    name, version, import_name = project_info(package)
    target = outdir / package.name
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--sdist",
            "--wheel",
            "--outdir",
            str(target),
            str(package),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise PublishError(f"{package.name}: python -m build failed:\n{done.stdout}{done.stderr}")
    wheels = sorted(target.glob("*.whl"))
    sdists = sorted(target.glob("*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        raise PublishError(f"{package.name}: expected one wheel and one sdist in {target}")
    return Built(package, name, version, import_name, wheels[0], sdists[0])


def _metadata(text: str) -> tuple[str, str]:
    message = email.parser.Parser().parsestr(text)
    return canonicalize_name(message["Name"]), str(Version(message["Version"]))


def check(built: Built) -> None:
    """Raise PublishError when a distribution is not fit to publish."""
    done = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, built.files)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise PublishError(
            f"{built.name}: twine check --strict failed:\n{done.stdout}{done.stderr}"
        )
    expected = (built.name, str(Version(built.version)))
    wheel_name, wheel_version, _, _ = parse_wheel_filename(built.wheel.name)
    sdist_name, sdist_version = parse_sdist_filename(built.sdist.name)
    for label, found in (
        ("wheel file name", (wheel_name, str(wheel_version))),
        ("sdist file name", (sdist_name, str(sdist_version))),
    ):
        if found != expected:
            raise PublishError(f"{built.name}: {label} says {found}, the project {expected}")
    with zipfile.ZipFile(built.wheel) as wheel:
        names = wheel.namelist()
        meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
        if _metadata(wheel.read(meta).decode()) != expected:
            raise PublishError(f"{built.name}: wheel METADATA does not say {expected}")
    if f"{built.import_name}/py.typed" not in names:
        raise PublishError(f"{built.name}: the wheel has no {built.import_name}/py.typed")
    tests = [n for n in names if "tests" in n.split("/")[:-1]]
    if tests:
        raise PublishError(f"{built.name}: the wheel ships tests ({tests[0]} ...)")
    with tarfile.open(built.sdist) as sdist:
        pkg_info = next(
            m for m in sdist.getmembers() if m.name.count("/") == 1 and m.name.endswith("/PKG-INFO")
        )
        extracted = sdist.extractfile(pkg_info)
        assert extracted is not None
        if _metadata(extracted.read().decode()) != expected:
            raise PublishError(f"{built.name}: sdist PKG-INFO does not say {expected}")


def default_index_url(repository_url: str) -> str:
    """Where to read what an upload URL already holds: ``.../legacy/`` -> ``.../simple/``."""
    base = repository_url.rstrip("/")
    base = re.sub(r"/legacy$", "", base)
    return base + "/simple/"


def _request(url: str) -> urllib.request.Request:
    if not url.startswith(("http://", "https://")):
        raise PublishError(f"index URL must be http(s): {url}")
    request = urllib.request.Request(url, headers={"Accept": "text/html"})  # noqa: S310 (checked)
    user, password = os.environ.get("TWINE_USERNAME"), os.environ.get("TWINE_PASSWORD")
    if user and password:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    return request


def existing_files(index_url: str, name: str) -> list[str]:
    """File names the index lists for ``name`` (empty when the project is unknown: 404)."""
    url = urllib.parse.urljoin(index_url.rstrip("/") + "/", f"{name}/")
    try:
        with urllib.request.urlopen(_request(url), timeout=30) as response:  # noqa: S310
            page = response.read().decode()
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return []
        raise PublishError(f"cannot read {url}: HTTP {exc.code}") from exc
    except urllib.error.URLError as exc:
        raise PublishError(f"cannot reach {url}: {exc.reason}") from exc
    hrefs = re.findall(r'href="([^"#]+)', page)
    return [urllib.parse.unquote(href.rsplit("/", 1)[-1]) for href in hrefs]


def already_published(index_url: str, built: Built) -> list[str]:
    version = Version(built.version)
    clashes = []
    for filename in existing_files(index_url, built.name):
        try:
            if filename.endswith(".whl"):
                name, found, _, _ = parse_wheel_filename(filename)
            elif filename.endswith((".tar.gz", ".zip")):
                name, found = parse_sdist_filename(filename)
            else:
                continue
        except ValueError:
            continue
        if name == built.name and found == version:
            clashes.append(filename)
    return clashes


def upload(repository_url: str, files: list[Path]) -> None:
    # Credentials: TWINE_USERNAME / TWINE_PASSWORD from the environment, or keyring. Never argv.
    subprocess.run(
        [
            sys.executable,
            "-m",
            "twine",
            "upload",
            "--non-interactive",
            "--disable-progress-bar",
            "--repository-url",
            repository_url,
            *map(str, files),
        ],
        check=True,
    )


def publish(
    packages: list[Path],
    repository_url: str,
    index_url: str | None = None,
    outdir: Path | None = None,
    *,
    dry_run: bool = False,
) -> list[Built]:
    index_url = index_url or default_index_url(repository_url)
    with tempfile.TemporaryDirectory(prefix="publish-") as tmp:
        dist = outdir or Path(tmp)
        built = []
        for package in packages:
            item = build(package, dist)
            check(item)
            print(f"built and checked {item.wheel.name}, {item.sdist.name}")
            built.append(item)
        clashes = {item.name: already_published(index_url, item) for item in built}
        taken = {name: files for name, files in clashes.items() if files}
        if taken:
            lines = "\n".join(f"  {name}: {', '.join(files)}" for name, files in taken.items())
            raise PublishError(
                f"already on {index_url}, nothing was uploaded:\n{lines}\n"
                "A published version never changes: release a new version "
                "(nox -s release -- PACKAGE patch) and publish again."
            )
        if dry_run:
            print(f"dry run: would upload {sum(len(b.files) for b in built)} files")
            return built
        upload(repository_url, [f for item in built for f in item.files])
        for item in built:
            print(f"published {item.name} {item.version} to {repository_url}")
        return built


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("packages", nargs="*", type=Path, help="package folders (default: libs/*)")
    parser.add_argument("--repository-url", required=True, help="twine upload URL")
    parser.add_argument("--index-url", help="simple index to check (default: <repository>/simple/)")
    parser.add_argument("--dist", type=Path, help="keep the built files in this folder")
    parser.add_argument("--dry-run", action="store_true", help="build, check, query; no upload")
    args = parser.parse_args(argv)
    packages = args.packages or sorted(p.parent for p in (ROOT / "libs").glob("*/pyproject.toml"))
    try:
        publish(
            [p.resolve() for p in packages],
            args.repository_url,
            args.index_url,
            args.dist.resolve() if args.dist else None,
            dry_run=args.dry_run,
        )
    except PublishError as exc:
        print(f"publish: {exc}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as exc:
        # the upload is the only step run with check=True; its output is above
        print(f"publish: twine upload failed (exit {exc.returncode})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
