"""N+1: nested users are fetched through a per-request loader, in ONE BatchGetUsers call."""

from __future__ import annotations

from collections.abc import Callable

from support.graphql_client import GraphQLTestClient
from support.rpc_counter import RpcCounter

from gateway_graphql.api.graphql.ids import user_global_id
from gateway_graphql.remote.user_service import User, UserServiceClient

PAGE = """
query ($after: String) {
  users(first: 100, after: $after) {
    edges { node { id displayName invitedBy { id displayName invitedBy { id displayName } } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


def _cursor_before(gql: GraphQLTestClient, first_id: int) -> str | None:
    """The cursor of the user listed just before ``first_id`` (None: it is the first user)."""
    query = "query ($after: String) { users(first: 100, after: $after) { edges { cursor node "
    query += "{ id } } pageInfo { hasNextPage endCursor } } }"
    target, previous, after = user_global_id(first_id), None, None
    while True:
        page = gql.execute(query, {"after": after})["data"]["users"]
        for edge in page["edges"]:
            if edge["node"]["id"] == target:
                return previous
            previous = edge["cursor"]
        assert page["pageInfo"]["hasNextPage"], "user not listed"
        after = page["pageInfo"]["endCursor"]


def test_a_page_of_100_users_with_inviters_costs_two_calls(
    gql: GraphQLTestClient,
    rpc_counter: RpcCounter,
    make_user: Callable[..., User],
    remote: UserServiceClient,
) -> None:
    # 10 inviters listed before the page, each invited by a root user; then 100 invitees.
    root = make_user("Root")
    inviters = [make_user(f"Inviter {n}", invited_by_id=root.id) for n in range(10)]
    invitees = [make_user(f"Invitee {n}", invited_by_id=inviters[n % 10].id) for n in range(100)]
    after = _cursor_before(gql, invitees[0].id)

    rpc_counter.reset()
    result = gql.execute(PAGE, {"after": after})
    assert "errors" not in result, result
    edges = result["data"]["users"]["edges"]
    assert [edge["node"]["id"] for edge in edges] == [user_global_id(u.id) for u in invitees]
    for n, edge in enumerate(edges):
        inviter = edge["node"]["invitedBy"]
        assert inviter["displayName"] == f"Inviter {n % 10}"
        assert inviter["invitedBy"] == {"id": user_global_id(root.id), "displayName": "Root"}
    # ListUsers for the page, BatchGetUsers for the 10 inviters, BatchGetUsers for the root:
    # one call per level of nesting, never one per user.
    assert rpc_counter.counts() == {"ListUsers": 1, "BatchGetUsers": 2}

    rpc_counter.reset()
    one_level = gql.execute(
        "query ($after: String) { users(first: 100, after: $after) "
        "{ edges { node { displayName invitedBy { displayName } } } } }",
        {"after": after},
    )
    assert len(one_level["data"]["users"]["edges"]) == 100
    assert sum(rpc_counter.counts().values()) <= 2
    assert rpc_counter.counts() == {"ListUsers": 1, "BatchGetUsers": 1}


def test_nodes_and_aliases_are_batched_too(
    gql: GraphQLTestClient, rpc_counter: RpcCounter, make_user: Callable[..., User]
) -> None:
    users = [make_user(f"N{n}") for n in range(5)]
    ids = [user_global_id(u.id) for u in users]
    rpc_counter.reset()
    result = gql.execute(
        """
        query ($ids: [ID!]!, $a: ID!, $b: ID!) {
          nodes(ids: $ids) { id ... on User { displayName } }
          a: user(id: $a) { displayName }
          b: node(id: $b) { ... on User { displayName } }
        }
        """,
        {"ids": [*ids, user_global_id(2**62)], "a": ids[0], "b": ids[4]},
    )
    assert "errors" not in result, result
    data = result["data"]
    assert [n["displayName"] if n else None for n in data["nodes"]] == [
        "N0",
        "N1",
        "N2",
        "N3",
        "N4",
        None,  # unknown id: null, no error
    ]
    assert data["a"] == {"displayName": "N0"}
    assert data["b"] == {"displayName": "N4"}
    assert rpc_counter.counts() == {"BatchGetUsers": 1}
