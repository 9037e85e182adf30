"""The harness's own behaviour: which images need stand-ins, and one clear line for each bad input."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import run
import standins
from engine import Unavailable

ROOT = Path(__file__).resolve().parents[3]


def _compose_config(*files: str) -> dict[str, Any]:
    named = [arg for name in files or ["docker-compose.yml"] for arg in ("--file", name)]
    result = subprocess.run(
        [*run.compose_command(), *named, "config", "--format", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(result.stdout))


def test_every_image_the_kit_names_has_a_stand_in() -> None:
    config: dict[str, Any] = _compose_config()
    # one Dockerfile builds every service: the ones the compose file names
    dockerfiles = sorted(
        {
            Path(service["build"]["context"]) / service["build"]["dockerfile"]
            for service in config["services"].values()
            if "build" in service
        }
    )
    images = standins.images_named(config, dockerfiles)
    # the compose file's pulled images and the Dockerfiles' bases, not the images the kit builds
    assert {standins.stand_in_name(i) for i in images} == {
        "python",
        "postgres",
        "redis",
        "nginx",
        "mailpit",
    }
    for image in images:
        assert (standins.HERE / f"{standins.stand_in_name(image)}.Dockerfile").exists(), image


def test_each_built_image_is_built_once() -> None:
    built = run.built_images(_compose_config())
    # the user-service's four processes share one image; the gateway has its own
    assert built == {
        "alvin/user-service:dev": "migrate",
        "alvin/gateway-graphql:dev": "gateway",
    }


def test_the_one_process_variant_builds_one_image_more_from_the_gateway() -> None:
    split = _compose_config(*run.COMPOSE_FILES)
    variant = _compose_config(*run.ONE_PROCESS_FILES)
    assert run.extra_images(split, variant) == {"alvin/one-process:dev": "gateway"}
    build = variant["services"]["gateway"]["build"]
    assert build["args"]["SERVICE"] == "one-process"
    assert build["args"]["BUNDLES"] == "gateway-graphql user-service"
    # the offline file, after the overlay, reaches the overlay's build: host network, stand-in base
    assert build["network"] == "host"
    offline = split["services"]["gateway"]["build"]["args"]["PYTHON_IMAGE"]
    assert build["args"]["PYTHON_IMAGE"] == offline
    # the user-service's API runs inside the gateway's process: no gRPC server of its own
    assert "user-grpc" not in variant["services"]


def test_stages_are_not_taken_for_images(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        "FROM --platform=linux/amd64 python:3.11-slim AS builder\nFROM builder AS runtime\n"
    )
    assert standins.images_named({}, [dockerfile]) == {"python:3.11-slim"}


def test_a_base_image_from_a_build_arg_is_the_args_value(tmp_path: Path) -> None:
    # the kit pins its base by digest in an ARG default; the offline build passes the stand-in
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        "ARG PYTHON_IMAGE=python:3.11-slim@sha256:" + "0" * 64 + "\nFROM ${PYTHON_IMAGE} AS b\n"
    )
    assert standins.images_named({}, [dockerfile]) == {"python:3.11-slim@sha256:" + "0" * 64}
    offline = {"PYTHON_IMAGE": "python:3.11-slim"}
    assert standins.images_named({}, [dockerfile], offline) == {"python:3.11-slim"}


def test_the_mirror_is_read_from_either_apt_format(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DEBIAN_MIRROR", raising=False)
    deb822 = tmp_path / "debian.sources"
    deb822.write_text(
        "Types: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n"
    )
    assert standins.debian_mirror([deb822]) == "http://mirror.example/debian"
    one_line = tmp_path / "sources.list"
    one_line.write_text("deb [arch=amd64] http://other.example/debian bookworm main\n")
    assert standins.debian_mirror([one_line]) == "http://other.example/debian"


def test_a_missing_mirror_is_one_line_naming_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DEBIAN_MIRROR", raising=False)
    (tmp_path / "sources.list").write_text("# nothing here\n")
    with pytest.raises(Unavailable, match="DEBIAN_MIRROR") as raised:
        standins.debian_mirror([tmp_path / "sources.list", tmp_path / "absent"])
    assert "\n" not in str(raised.value)


def test_a_taken_port_that_you_chose_is_one_line_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        monkeypatch.setenv("HTTP_PORT", str(port))
        with pytest.raises(Unavailable, match=f"port {port} \\(HTTP_PORT\\)") as raised:
            run.published_ports()
    assert "\n" not in str(raised.value)


def test_a_taken_default_port_moves_to_a_free_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HTTP_PORT", raising=False)
    monkeypatch.delenv("MAILPIT_UI_PORT", raising=False)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        monkeypatch.setitem(run.PORTS, "HTTP_PORT", taken)
        chosen = run.published_ports()
    assert chosen["HTTP_PORT"] != str(taken)
    assert int(chosen["HTTP_PORT"]) > 0


def _run_harness(tmp_path: Path, env: dict[str, str], *, as_nobody: bool = False) -> list[str]:
    script = ROOT / "kit" / "containers" / "run.py"
    command = [sys.executable, str(script), "--cache", str(tmp_path), "--no-self-test"]
    if as_nobody:
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
    result = subprocess.run(
        command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    lines = result.stdout.strip().splitlines()
    return [f"rc={result.returncode}", lines[-1] if lines else result.stderr]


def test_an_engine_that_does_not_answer_is_one_clear_line(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DOCKER_HOST": f"unix://{tmp_path}/nothing.sock",
        "CI": "",
    }
    rc, last = _run_harness(tmp_path, env)
    assert rc == "rc=0"
    assert last.startswith("containers: skipped: DOCKER_HOST=unix://")
    assert "does not answer" in last

    rc, last = _run_harness(tmp_path, {**env, "CI": "true"})
    assert rc == "rc=1"
    assert last.startswith("containers: failed: DOCKER_HOST=")


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root to become another user"
)
def test_no_engine_and_not_root_is_one_clear_line(tmp_path: Path) -> None:
    tmp_path.chmod(0o777)
    env = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}
    env |= {"CI": "", "HOME": str(tmp_path)}
    rc, last = _run_harness(tmp_path, env, as_nobody=True)
    assert rc == "rc=0", last
    assert last.startswith("containers: skipped: no Docker engine answers")
    assert "run as root" in last
