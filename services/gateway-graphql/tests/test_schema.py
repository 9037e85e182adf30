"""The schema: the committed SDL (`schema.graphql`) is what the code serves; Relay shapes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from graphql import GraphQLNonNull, GraphQLObjectType, Visitor, parse, print_ast, visit

from gateway_graphql.api.graphql.schema import schema

SDL = Path(__file__).resolve().parent.parent / "schema.graphql"


def test_committed_sdl_is_current() -> None:
    # Regenerate with: gateway print-schema > schema.graphql
    assert SDL.read_text() == str(schema).rstrip("\n") + "\n"


def test_ids_are_strings_never_ints() -> None:
    user = schema.graphql_schema.get_type("User")
    assert isinstance(user, GraphQLObjectType)
    id_type = user.fields["id"].type
    assert isinstance(id_type, GraphQLNonNull)
    assert str(id_type.of_type) == "ID"
    assert "Node" in [i.name for i in user.interfaces]


def test_every_mutation_takes_an_input_object_and_reports_user_errors() -> None:
    mutation = schema.graphql_schema.mutation_type
    assert mutation is not None
    assert {
        "signup",
        "login",
        "logout",
        "updateMe",
        "changePassword",
        "requestPasswordReset",
        "resetPassword",
        "verifyEmail",
        "requestEmailChange",
    } <= set(mutation.fields)
    for name, field in mutation.fields.items():
        assert list(field.args) == ["input"], name
        payload = field.type
        assert isinstance(payload, GraphQLObjectType)
        assert str(payload.fields["errors"].type) == "[UserError!]!", name


def _without_descriptions(sdl: str) -> str:
    class Strip(Visitor):
        def enter(self, node: Any, *_: Any) -> None:
            if getattr(node, "description", None) is not None:
                node.description = None

    document = parse(sdl)
    visit(document, Strip())
    return print_ast(document)


def test_readme_shows_the_current_schema() -> None:
    readme = (SDL.parent / "README.md").read_text()
    block = re.search(r"```graphql\n(type Query.*?)\n```", readme, re.DOTALL)
    assert block is not None
    assert block.group(1) == _without_descriptions(str(schema))
