"""Relay pagination over ListUsers page tokens."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest
from support.graphql_client import GraphQLTestClient

from alvin_python_lib.errors import InvalidArgument
from gateway_graphql.api.graphql.ids import decode_cursor, encode_cursor, user_global_id
from gateway_graphql.remote.user_service import User, UserPage, UserServiceClient
from gateway_graphql.service.accounts import Accounts, PagePosition

PAGE = """
query ($first: Int, $after: String) {
  users(first: $first, after: $after) {
    edges { cursor node { id } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""


def _all_ids(remote: UserServiceClient) -> list[str]:
    ids, token = [], ""
    while True:
        page = remote.list_users(page_size=200, page_token=token)
        ids += [user_global_id(u.id) for u in page.users]
        if not page.next_page_token:
            return ids
        token = page.next_page_token


def test_paging_with_end_cursors_lists_everyone_once(
    gql: GraphQLTestClient, remote: UserServiceClient, make_user: Callable[..., User]
) -> None:
    for n in range(5):
        make_user(f"Page {n}")
    expected = _all_ids(remote)
    seen: list[str] = []
    after = None
    while True:
        page = gql.execute(PAGE, {"first": 7, "after": after})["data"]["users"]
        edges, info = page["edges"], page["pageInfo"]
        seen += [edge["node"]["id"] for edge in edges]
        assert info["hasPreviousPage"] is False
        assert info["startCursor"] == edges[0]["cursor"]
        assert info["endCursor"] == edges[-1]["cursor"]
        if not info["hasNextPage"]:
            break
        after = info["endCursor"]
    assert seen == expected


def test_any_edge_cursor_resumes_right_after_it(
    gql: GraphQLTestClient, make_user: Callable[..., User]
) -> None:
    for n in range(8):
        make_user(f"Resume {n}")
    first = gql.execute(PAGE, {"first": 8})["data"]["users"]["edges"]
    ids = [edge["node"]["id"] for edge in first]
    for index, edge in enumerate(first[:6]):
        following = gql.execute(PAGE, {"first": 2, "after": edge["cursor"]})["data"]["users"]
        assert [e["node"]["id"] for e in following["edges"]] == ids[index + 1 : index + 3]


def test_first_zero_and_default(gql: GraphQLTestClient, make_user: Callable[..., User]) -> None:
    make_user()
    empty = gql.execute(PAGE, {"first": 0})["data"]["users"]
    assert empty["edges"] == []
    assert empty["pageInfo"]["hasNextPage"] is True
    assert empty["pageInfo"]["endCursor"] is None
    default = gql.execute(PAGE)["data"]["users"]["edges"]
    assert 1 <= len(default) <= 20


def test_nodes_is_capped(gql: GraphQLTestClient) -> None:
    ids = [user_global_id(n) for n in range(1, 102)]
    error = gql.execute("query ($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": ids})["errors"][
        0
    ]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["violations"] == [
        {"field": "ids", "message": "at most 100 IDs per call"}
    ]


def test_cursors_are_opaque_and_checked() -> None:
    position = PagePosition("dGhlIHRva2Vu", 7)
    assert decode_cursor(encode_cursor(position)) == position
    for bad in ("", "abc", encode_cursor(position)[:-3], "YzE6WzFd"):
        with pytest.raises(InvalidArgument):
            decode_cursor(bad)


# ---------------------------------------------------------------- short pages (unit level)


def _user(n: int) -> User:
    now = datetime.now(timezone.utc)
    return User(n, f"u{n}@example.com", f"U{n}", None, True, now, now, None)


class _ShortPages:
    """A ListUsers that returns at most 2 users per page, whatever the size asked."""

    def __init__(self, total: int) -> None:
        self.users = [_user(n) for n in range(1, total + 1)]
        self.calls: list[tuple[int, str]] = []

    def list_users(self, *, page_size: int = 0, page_token: str = "") -> UserPage:
        self.calls.append((page_size, page_token))
        start = int(page_token or 0)
        chunk = self.users[start : start + min(page_size, 2)]
        end = start + len(chunk)
        return UserPage(chunk, str(end) if end < len(self.users) else "")


def test_short_pages_from_the_service_are_followed() -> None:
    fake = _ShortPages(total=7)
    accounts = Accounts(fake)  # type: ignore[arg-type]
    seen: list[int] = []
    after: Any = None
    while True:
        found = accounts.list_users(first=3, after=after)
        seen += [u.id for u in found.users]
        if not found.has_next_page:
            break
        after = found.positions[-1]
    assert seen == [1, 2, 3, 4, 5, 6, 7]
    # resuming from a position beyond the end of a short page hops to the next page (and may
    # return fewer users than asked, as Relay allows; the end cursor goes on from there)
    found = accounts.list_users(first=2, after=PagePosition("", 3))
    assert [u.id for u in found.users] == [4]
    rest = accounts.list_users(first=2, after=found.positions[-1])
    assert [u.id for u in rest.users] == [5, 6]


def test_a_forged_page_token_is_a_bad_cursor(gql: GraphQLTestClient) -> None:
    forged = encode_cursor(PagePosition("not-a-token-of-the-user-service", 0))
    error = gql.execute(PAGE, {"after": forged})["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["violations"] == [
        {"field": "after", "message": "is not a valid cursor"}
    ]
