"""Every GraphQL document of the example SPA is valid against the gateway's schema (the printed
``schema.graphql`` the gateway's tests keep current): a renamed field fails here, in a second,
before any browser starts. And the client is the stock one, with no header of its own."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from graphql import build_schema, parse, validate

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "services" / "gateway-graphql" / "schema.graphql"
SOURCES = sorted((ROOT / "examples" / "spa" / "src").rglob("*.ts"))
# The app writes each operation as a template literal starting with its keyword.
DOCUMENT = re.compile(r"`((?:query|mutation)\s[^`]*)`")

DOCUMENTS = [
    pytest.param(text, id=f"{path.name}:{text.split('(')[0].split('{')[0].strip()}")
    for path in SOURCES
    for text in DOCUMENT.findall(path.read_text())
]


def test_the_app_has_its_operations() -> None:
    assert len(DOCUMENTS) >= 15


@pytest.mark.parametrize("document", DOCUMENTS)
def test_document_is_valid_against_the_schema(document: str) -> None:
    schema = build_schema(SCHEMA.read_text())
    assert validate(schema, parse(document)) == []


def test_the_client_sends_no_header_of_its_own() -> None:
    """No CSRF token or custom header: the session cookie goes with ``credentials: "include"``,
    and the stock client's JSON POST is what the gateway's CSRF rule lets through."""
    api = (ROOT / "examples" / "spa" / "src" / "api.ts").read_text()
    assert 'fetchOptions: { credentials: "include" }' in api
    assert 'from "@urql/core"' in api
    own_headers = re.compile(r"\bheaders\b|setRequestHeader|x-csrf|csrf-?token", re.IGNORECASE)
    assert [path.name for path in SOURCES if own_headers.search(path.read_text())] == []
