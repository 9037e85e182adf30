"""Stand-in base images, built offline from Debian packages, tagged as the kit's files name them.

Docker Hub cannot be reached here, so every image that docker-compose.yml and the Dockerfiles name
(``python:3.11.10-slim-bookworm``, ``postgres:16.4-alpine`` ...) is built from
``standins/<name>.Dockerfile`` on a Debian root file system made by debootstrap, and given that
exact tag in the private engine only. Each stand-in honours the contract the kit relies on (the
environment variables, commands, paths and ports); its label records a digest of its sources,
so it is rebuilt only when they change.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from engine import Engine, Unavailable, apt_install

HERE = Path(__file__).resolve().parent / "standins"
ROOTFS_TAG = "alvin-standin/debian-rootfs:bookworm"
BASE_TAG = "alvin-standin/debian:bookworm"
DIGEST_LABEL = "org.alvin.standin.digest"
SUITE = "bookworm"


@dataclass
class Built:
    """One stand-in: its tag, and how long it took (None: taken from the cache)."""

    tag: str
    seconds: float | None


def stand_in_name(image: str) -> str:
    """``axllent/mailpit:v1.22.3`` -> ``mailpit``: the stand-in file that builds it."""
    return image.split("@", maxsplit=1)[0].rsplit(":", 1)[0].rsplit("/", 1)[-1]


def _expand(text: str, values: dict[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: values.get(m.group(1), ""), text)


def images_named(
    compose_config: dict[str, object],
    dockerfiles: list[Path],
    args: dict[str, str] | None = None,
) -> set[str]:
    """Every image the stack pulls: compose services without a build, and the FROM lines, with
    ``${ARG}`` in them replaced by ``args``, else the build args of the compose services, else the
    ARG's default."""
    images: set[str] = set()
    services = compose_config.get("services", {})
    assert isinstance(services, dict)
    build_args: dict[str, str] = {}
    for service in services.values():
        if "build" not in service and service.get("image"):
            images.add(service["image"])
        build_args.update((service.get("build") or {}).get("args") or {})
    build_args.update(args or {})
    for dockerfile in dockerfiles:
        stages: set[str] = set()
        values: dict[str, str] = {}
        for line in dockerfile.read_text().splitlines():
            arg = re.match(r"\s*ARG\s+(\w+)(?:=(\S*))?\s*$", line, re.I)
            if arg:
                values[arg.group(1)] = build_args.get(arg.group(1), arg.group(2) or "")
            match = re.match(r"\s*FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", line, re.I)
            if match:
                image = _expand(match.group(1), values)
                if image not in stages:
                    images.add(image)
                if match.group(2):
                    stages.add(match.group(2))
    return images


def debian_mirror(sources: Sequence[Path] | None = None) -> str:
    """The Debian mirror apt uses here (``DEBIAN_MIRROR`` wins)."""
    if os.environ.get("DEBIAN_MIRROR"):
        return os.environ["DEBIAN_MIRROR"]
    if sources is None:
        sources = [
            Path("/etc/apt/sources.list"),
            *sorted(Path("/etc/apt/sources.list.d").glob("*")),
        ]
    for path in sources:
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        for stanza in text.split("\n\n"):  # deb822: URIs:/Suites: per stanza
            uris = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
            suites = re.search(r"^Suites:\s*(.+)$", stanza, re.M)
            if uris and suites and SUITE in suites.group(1).split():
                return uris.group(1)
        for line in text.splitlines():  # one-line style: deb [opts] URI SUITE components
            match = re.match(rf"\s*deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+{SUITE}\s", line)
            if match:
                return match.group(1)
    raise Unavailable(
        f"no Debian {SUITE} mirror in /etc/apt/sources.list(.d): set DEBIAN_MIRROR to one "
        "(e.g. DEBIAN_MIRROR=http://deb.debian.org/debian)"
    )


def _ca_bundle() -> Path:
    for candidate in (os.environ.get("SSL_CERT_FILE"), "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise Unavailable(
        "no CA bundle at /etc/ssl/certs/ca-certificates.crt: apt-get install ca-certificates"
    )


def _label(engine: Engine, tag: str) -> str | None:
    try:
        out = engine.run("image", "inspect", "--format", "{{json .Config.Labels}}", tag)
    except RuntimeError:
        return None
    labels = json.loads(out) or {}
    return str(labels.get(DIGEST_LABEL, ""))


def _rootfs(engine: Engine, cache: Path) -> float | None:
    if _label(engine, ROOTFS_TAG) is not None:
        return None
    if not shutil.which("debootstrap"):
        apt_install("debootstrap")
    mirror = debian_mirror()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=cache) as folder:
        target = Path(folder) / "rootfs"
        result = subprocess.run(
            ["debootstrap", "--variant=minbase", SUITE, str(target), mirror],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            tail = (result.stdout + result.stderr).strip().splitlines()[-2:]
            raise Unavailable(f"debootstrap {SUITE} from {mirror} failed: {tail}")
        tar = subprocess.Popen(["tar", "-C", str(target), "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(
            [engine.docker, "import", "-", ROOTFS_TAG],
            stdin=tar.stdout,
            env=engine.env(),
            capture_output=True,
            text=True,
            check=False,
        )
        tar.wait()
        if imported.returncode != 0:
            raise RuntimeError(f"docker import: {imported.stderr.strip()}")
    return time.monotonic() - started


def _digest(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()[:16]


def _build(engine: Engine, context: Path, dockerfile: str, tag: str, digest: str) -> float | None:
    if _label(engine, tag) == digest:
        return None
    started = time.monotonic()
    result = subprocess.run(
        [
            engine.docker, "build", "--network", "host", "--quiet",
            "--label", f"{DIGEST_LABEL}={digest}",
            "--file", str(context / dockerfile), "--tag", tag, str(context),
        ],
        env={**engine.env(), "DOCKER_BUILDKIT": "1"},
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"building the stand-in {tag}: {result.stderr.strip()[-3000:]}")
    return time.monotonic() - started


def ensure(engine: Engine, cache: Path, images: set[str]) -> list[Built]:
    """Build (or take from the cache) a stand-in for each image; the base comes first."""
    missing = sorted(i for i in images if not (HERE / f"{stand_in_name(i)}.Dockerfile").exists())
    if missing:
        raise Unavailable(
            f"no stand-in for {', '.join(missing)}: add containers/standins/<name>.Dockerfile"
        )
    built = [Built(ROOTFS_TAG, _rootfs(engine, cache))]
    with tempfile.TemporaryDirectory() as folder:
        context = Path(folder)
        for source in HERE.iterdir():
            shutil.copy2(source, context / source.name)
        shutil.copy2(_ca_bundle(), context / "ca-certificates.crt")
        rootfs_id = engine.run("image", "inspect", "--format", "{{.Id}}", ROOTFS_TAG).strip()
        base_digest = _digest(
            rootfs_id.encode(),
            (context / "base.Dockerfile").read_bytes(),
            (context / "ca-certificates.crt").read_bytes(),
        )
        built.append(
            Built(BASE_TAG, _build(engine, context, "base.Dockerfile", BASE_TAG, base_digest))
        )
        for image in sorted(images):
            name = stand_in_name(image)
            sources = sorted(p for p in context.iterdir() if p.name.startswith(f"{name}"))
            digest = _digest(base_digest.encode(), *(p.read_bytes() for p in sources))
            built.append(Built(image, _build(engine, context, f"{name}.Dockerfile", image, digest)))
    return built
