"""Schema fuzzing of the live gateway over HTTP with hypothesis-graphql (650 operations: valid
queries and mutations, and invalid documents), half of them with a logged-in session.

No response may be a 5xx, and no error may be INTERNAL: whatever a client sends is either
served or refused with a client error. Examples are derandomized (a fixed seed) when CI=true.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import PASSWORD, unique_email
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, from_schema, mutations, queries

from gateway_graphql.remote.user_service import UserServiceClient

SCHEMA = (Path(__file__).parents[1] / "schema.graphql").read_text()


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        derandomize=os.environ.get("CI") == "true",  # a fixed seed in CI
        database=None,  # no .hypothesis/ folder in the tree
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        print_blob=True,
    )


class Fuzzer:
    """Posts documents to the live gateway, as an anonymous client or as a logged-in user."""

    def __init__(self, url: str, remote: UserServiceClient) -> None:
        self.url = f"{url}/graphql"
        self.remote = remote
        self.http = requests.Session()
        self.user = remote.create_user(
            email=unique_email("fuzz"), password=PASSWORD, display_name="Fuzz"
        )
        self._token = ""
        self.sent = 0
        self.codes: dict[str, int] = {}

    def token(self) -> str:
        """A valid session token of the fuzz user (a new one after the last was ended)."""
        if not self._token:
            email = self.remote.get_user(self.user.id).email  # updateMe may have changed it
            self._token = self.remote.authenticate(email=email, password=PASSWORD).token
        return self._token

    def send(self, document: str, *, logged_in: bool) -> None:
        """POST ``document``; fail on a 5xx, a body that is not JSON or an INTERNAL error."""
        headers: dict[str, str] = {}
        if logged_in:
            headers["Authorization"] = f"Bearer {self.token()}"
        response = self.http.post(self.url, json={"query": document}, headers=headers, timeout=30)
        self.sent += 1
        assert response.status_code < 500, (response.status_code, document, response.text)
        body: Any = response.json()
        for error in body.get("errors") or []:
            code = (error.get("extensions") or {}).get("code")
            assert code, (document, error)
            assert code != "INTERNAL", (document, error)
            self.codes[code] = self.codes.get(code, 0) + 1
        if logged_in and any(word in document for word in ("logout", "changePassword")):
            self._token = ""  # the session may have ended: log in again next time


@pytest.fixture(scope="module")
def fuzzer(live_gateway: str, remote: UserServiceClient) -> Iterator[Fuzzer]:
    fuzzer = Fuzzer(live_gateway, remote)
    yield fuzzer
    fuzzer.http.close()


def _run(fuzzer: Fuzzer, strategy: st.SearchStrategy[Any], examples: int) -> None:
    before = fuzzer.sent

    @_settings(examples)
    @given(document=strategy, logged_in=st.booleans())
    def check(document: str, logged_in: bool) -> None:
        fuzzer.send(document, logged_in=logged_in)

    check()
    assert fuzzer.sent - before >= examples  # every example reached the gateway


def test_queries(fuzzer: Fuzzer) -> None:
    _run(fuzzer, queries(SCHEMA), 300)


def test_mutations(fuzzer: Fuzzer) -> None:
    _run(fuzzer, mutations(SCHEMA), 250)


def test_invalid_documents(fuzzer: Fuzzer) -> None:
    # Documents that break the schema's rules: wrong argument types, missing required ones ...
    _run(fuzzer, from_schema(SCHEMA, mode=Mode.NEGATIVE), 100)
    assert fuzzer.codes.get("GRAPHQL_VALIDATION_FAILED", 0) > 0
