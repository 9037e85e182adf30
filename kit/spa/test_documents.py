"""Every GraphQL document of the example SPA is valid against the gateway's schema (the printed
``schema.graphql`` the gateway's tests keep current): a renamed field fails here, in a second,
before any browser starts."""

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
