"""Terraform offline: where the AWS provider comes from, and checkov in a venv of its own."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox

from tools.noxsupport.pins import CHECKOV

AWS_PROVIDER = Path("registry.terraform.io") / "hashicorp" / "aws"
# where the kit's machines keep the provider's filesystem mirror when TF_PLUGIN_DIR is not set
TF_PLUGIN_DIRS = (Path("/opt/tf-plugins"),)


def aws_provider_init_args() -> tuple[list[str] | None, str]:
    """`terraform init` arguments that get the AWS provider offline, or None and the reason.

    TF_PLUGIN_DIR (a directory laid out like a filesystem mirror) wins; else a filesystem
    mirror declared in the CLI configuration, or one of Terraform's implied local mirrors.
    """
    plugin_dir = os.environ.get("TF_PLUGIN_DIR")
    if plugin_dir:
        if (Path(plugin_dir) / AWS_PROVIDER).is_dir():
            return ["-plugin-dir", plugin_dir], f"TF_PLUGIN_DIR={plugin_dir}"
        return None, f"TF_PLUGIN_DIR={plugin_dir} has no {AWS_PROVIDER}"
    cli_config = Path(os.environ.get("TF_CLI_CONFIG_FILE") or Path.home() / ".terraformrc")
    if cli_config.is_file() and "filesystem_mirror" in cli_config.read_text():
        return [], f"the filesystem mirror of {cli_config}"
    implied = [
        Path.home() / ".terraform.d" / "plugins",
        Path.home() / ".local" / "share" / "terraform" / "plugins",
        Path("/usr/local/share/terraform/plugins"),
        Path("/usr/share/terraform/plugins"),
    ]
    for mirror in implied:
        if (mirror / AWS_PROVIDER).is_dir():
            return [], f"the implied local mirror {mirror}"
    for mirror in TF_PLUGIN_DIRS:
        if (mirror / AWS_PROVIDER).is_dir():
            return ["-plugin-dir", str(mirror)], f"the machines' provider mirror {mirror}"
    return None, (
        "no AWS provider mirror (set TF_PLUGIN_DIR, or a filesystem_mirror in the CLI "
        "configuration); the registry cannot be reached from here"
    )


def provider_mirror() -> Path | None:
    """A filesystem mirror holding the AWS provider: TF_PLUGIN_DIR, else the machines' default."""
    candidates = [Path(os.environ["TF_PLUGIN_DIR"])] if os.environ.get("TF_PLUGIN_DIR") else []
    return next((d for d in [*candidates, *TF_PLUGIN_DIRS] if (d / AWS_PROVIDER).is_dir()), None)


def checkov(session: nox.Session) -> Path:
    """checkov in a virtualenv beside the session's (its bc-python-hcl2 ships a package `hcl2`,
    which would shadow python-hcl2 8.x that the HCL tests use)."""
    venv = Path(f"{session.virtualenv.location}-checkov")
    executable = venv / "bin" / "checkov"
    if not executable.exists():
        session.run("python", "-m", "venv", "--clear", str(venv))
        session.run(str(venv / "bin" / "python"), "-m", "pip", "install", "-q", CHECKOV)
    return executable


def installed() -> bool:
    """Whether the terraform binary is on PATH."""
    return shutil.which("terraform") is not None


def skip_or_fail(session: nox.Session, message: str) -> None:
    """Skip the session with ``message``; under CI=true, where it must run, fail instead."""
    if os.environ.get("CI") == "true":
        session.error(message)
    session.skip(message)
