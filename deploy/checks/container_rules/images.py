"""Image references: is ``name:tag`` pinned (a version tag or a digest, never latest)?"""

from __future__ import annotations

import re

# A tag "pinned by version": starts with a number with at least one dot (3.11.10-slim, v1.22.3).
VERSION_TAG = re.compile(r"^v?\d+\.\d+")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def split_image(ref: str) -> tuple[str, str | None, str | None]:
    """``registry:5000/name:tag@sha256:...`` -> (name, tag, digest)."""
    name, _, digest = ref.partition("@")
    last_slash = name.rfind("/")
    colon = name.rfind(":")
    tag = None
    if colon > last_slash:
        name, tag = name[:colon], name[colon + 1 :]
    return name, tag or None, digest or None


def image_pin_problem(ref: str, *, version_tag: bool = True) -> str | None:
    """Why ``ref`` is not pinned, or None. ``version_tag=False`` accepts any non-latest tag."""
    if ref == "scratch":
        return None
    _, tag, digest = split_image(ref)
    if digest is not None:
        return None if DIGEST.match(digest) else f"{ref!r}: malformed digest"
    if tag is None:
        return f"{ref!r} has no tag (that means :latest)"
    if tag == "latest":
        return f"{ref!r} uses :latest"
    if version_tag and not VERSION_TAG.match(tag):
        return f"{ref!r}: tag {tag!r} is not a version (pin at least major.minor)"
    return None
