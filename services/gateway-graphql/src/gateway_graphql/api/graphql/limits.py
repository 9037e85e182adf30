"""Cost limits for GraphQL documents, as graphql-core validation rules.

``query_limits_rule(max_depth=10, max_fields=200, max_aliases=30)`` returns a rule class to pass to
``graphql.validate`` next to ``specified_rules``. Each operation is measured with its fragments
expanded (so that fragments cannot hide cost), and the walk stops early once a limit is passed, so
that a "fragment bomb" (fragments spreading each other many times) costs little to reject.
Introspection fields (``__schema``, ``__type``) are not counted: turn introspection off where it
must not be used (``graphql.validation.NoSchemaIntrospectionCustomRule``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
)

__all__ = [
    "INTROSPECTION_FIELDS",
    "PASSWORD_FIELDS",
    "QueryUsage",
    "measure",
    "password_fields_rule",
    "query_limits_rule",
]

INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})
#: Root fields that make the user-service hash or check a password (argon2: slow and 64 MiB each).
PASSWORD_FIELDS = frozenset(
    {"signup", "login", "changePassword", "resetPassword", "requestEmailChange"}
)


@dataclass
class QueryUsage:
    """What an operation selects; ``truncated`` when the walk stopped at its budget."""

    depth: int = 0
    fields: int = 0
    aliases: int = 0
    truncated: bool = False


def measure(
    selection_set: SelectionSetNode,
    get_fragment: Callable[[str], FragmentDefinitionNode | None],
    *,
    budget: int,
) -> QueryUsage:
    """Depth, field and alias counts of ``selection_set`` with fragments expanded.

    The walk visits at most ``budget`` selections (fields, spreads, inline fragments); past that
    it stops and sets ``truncated``. A fragment that spreads itself (invalid anyway) is not
    followed again on the same path.
    """
    usage = QueryUsage()
    visited = 0
    stack: list[tuple[SelectionSetNode, int, frozenset[str]]] = [(selection_set, 1, frozenset())]
    while stack:
        selections, depth, fragments = stack.pop()
        for selection in selections.selections:
            visited += 1
            if visited > budget:
                usage.truncated = True
                return usage
            if isinstance(selection, FieldNode):
                if selection.name.value in INTROSPECTION_FIELDS:
                    continue
                usage.fields += 1
                usage.aliases += selection.alias is not None
                usage.depth = max(usage.depth, depth)
                if selection.selection_set is not None:
                    stack.append((selection.selection_set, depth + 1, fragments))
            elif isinstance(selection, InlineFragmentNode):
                stack.append((selection.selection_set, depth, fragments))
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = get_fragment(name)
                if fragment is not None and name not in fragments:
                    stack.append((fragment.selection_set, depth, fragments | {name}))
    return usage


def query_limits_rule(
    *,
    max_depth: int,
    max_fields: int,
    max_aliases: int,
    code: str = "GRAPHQL_VALIDATION_FAILED",
) -> type[ValidationRule]:
    """A validation rule that rejects operations deeper, wider or more aliased than allowed.

    Errors carry ``extensions`` ``{"code": code, "limit": "depth"|"fields"|"aliases",
    "maximum": n}``.
    """
    budget = 4 * (max_fields + max_aliases) + 100

    class QueryLimitsRule(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            usage = measure(node.selection_set, self.context.get_fragment, budget=budget)
            if usage.depth > max_depth:
                self._report(
                    node,
                    f"The query is nested {usage.depth} levels deep; the maximum is {max_depth}.",
                    "depth",
                    max_depth,
                )
            if usage.truncated or usage.fields > max_fields:
                amount = "too many" if usage.truncated else str(usage.fields)
                self._report(
                    node,
                    f"The query selects {amount} fields; the maximum is {max_fields}.",
                    "fields",
                    max_fields,
                )
            if usage.aliases > max_aliases:
                self._report(
                    node,
                    f"The query uses {usage.aliases} aliases; the maximum is {max_aliases}.",
                    "aliases",
                    max_aliases,
                )

        def _report(
            self, node: OperationDefinitionNode, message: str, limit: str, maximum: int
        ) -> None:
            self.report_error(
                GraphQLError(
                    message,
                    node,
                    extensions={"code": code, "limit": limit, "maximum": maximum},
                )
            )

    return QueryLimitsRule


def root_field_names(
    selection_set: SelectionSetNode,
    get_fragment: Callable[[str], FragmentDefinitionNode | None],
    *,
    budget: int = 1000,
) -> list[str]:
    """The names of an operation's root fields, one entry per selection (aliases of one field
    count once each), with fragments expanded; at most ``budget`` selections are visited."""
    names: list[str] = []
    visited = 0
    stack: list[tuple[SelectionSetNode, frozenset[str]]] = [(selection_set, frozenset())]
    while stack and visited < budget:
        selections, fragments = stack.pop()
        for selection in selections.selections:
            visited += 1
            if isinstance(selection, FieldNode):
                names.append(selection.name.value)
            elif isinstance(selection, InlineFragmentNode):
                stack.append((selection.selection_set, fragments))
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = get_fragment(name)
                if fragment is not None and name not in fragments:
                    stack.append((fragment.selection_set, fragments | {name}))
    return names


def password_fields_rule(
    *,
    fields: frozenset[str] = PASSWORD_FIELDS,
    maximum: int = 1,
    code: str = "GRAPHQL_VALIDATION_FAILED",
) -> type[ValidationRule]:
    """A validation rule that allows at most ``maximum`` password-bearing root fields per
    operation, aliases and fragments included.

    Each such field costs the user-service one slow, memory-hungry password hash whatever the
    field's outcome: without this rule one anonymous request with thirty aliased ``signup``
    fields takes every hashing slot, and real logins wait. Errors carry ``extensions``
    ``{"code": code, "limit": "passwordFields", "maximum": maximum}``.
    """

    class PasswordFieldsRule(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            names = root_field_names(node.selection_set, self.context.get_fragment)
            found = [name for name in names if name in fields]
            if len(found) > maximum:
                self.report_error(
                    GraphQLError(
                        f"The operation has {len(found)} password fields "
                        f"({', '.join(sorted(set(found)))}); the maximum is {maximum} per "
                        "request.",
                        node,
                        extensions={"code": code, "limit": "passwordFields", "maximum": maximum},
                    )
                )

    return PasswordFieldsRule
