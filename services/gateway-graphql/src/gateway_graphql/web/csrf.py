"""CSRF by Apollo Server's rule: a request a browser would not send cross-site without a preflight.

A cross-site page can make a browser send a "simple" request (no CORS preflight) with the user's
cookies: a ``Content-Type`` of ``text/plain``, ``application/x-www-form-urlencoded`` or
``multipart/form-data`` (or none), and only CORS-safelisted headers. Anything else (a JSON body, a
custom header) is preflighted, and the preflight passes only for the origins CORS allows. So a
request is safe from CSRF when its ``Content-Type`` is not one of the simple ones, or when it carries
a non-empty header that forces a preflight (``X-Requested-With``, ``Apollo-Require-Preflight``,
``X-Apollo-Operation-Name``).

The ``Content-Type`` is read as the WHATWG MIME parser (which browsers use to decide on a
preflight) reads it: a value it cannot parse is never sent without a preflight, so it is safe.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["PREFLIGHT_HEADERS", "SIMPLE_CONTENT_TYPES", "is_preflighted", "mime_essence"]

SIMPLE_CONTENT_TYPES = frozenset(
    {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"}
)
PREFLIGHT_HEADERS = ("X-Requested-With", "Apollo-Require-Preflight", "X-Apollo-Operation-Name")

_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_HTTP_WHITESPACE = " \t\r\n"


def mime_essence(content_type: str) -> str | None:
    """``type/subtype`` in lower case, or None when the WHATWG MIME parser would fail."""
    value = content_type.strip(_HTTP_WHITESPACE)
    kind, slash, rest = value.partition("/")
    subtype = rest.split(";", 1)[0].rstrip(_HTTP_WHITESPACE)
    if not slash or not _TOKEN.match(kind) or not _TOKEN.match(subtype):
        return None
    return f"{kind}/{subtype}".lower()


def is_preflighted(headers: Mapping[str, str]) -> bool:
    """True when a browser sends a request with these headers only after a CORS preflight.

    ``headers`` must look names up case-insensitively (werkzeug's ``Headers`` do).
    """
    content_type = (headers.get("Content-Type") or "").strip(_HTTP_WHITESPACE)
    if content_type:  # an empty value counts as none: some WSGI servers pass one for none
        essence = mime_essence(content_type)
        if essence is None or essence not in SIMPLE_CONTENT_TYPES:
            return True
    return any(headers.get(name, "").strip() for name in PREFLIGHT_HEADERS)
