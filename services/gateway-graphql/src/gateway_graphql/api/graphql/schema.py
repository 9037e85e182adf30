"""The GraphQL schema (Relay conventions): users, sessions and the viewer's account.

Resolvers translate between GraphQL and the service layer only: they read ``info.context``
(:class:`~gateway_graphql.api.graphql.context.GraphQLContext`), call
:class:`~gateway_graphql.service.accounts.Accounts`, and raise domain exceptions, which
:mod:`~gateway_graphql.api.graphql.errors` turns into ``extensions.code``. Mutations report
invalid input as typed ``errors`` in their payload instead (:mod:`.user_errors`).

The types are in :mod:`.types`, the entry points in :mod:`.queries` and :mod:`.mutations`;
``schema.graphql`` next to ``pyproject.toml`` is this schema printed (``gateway print-schema``).
"""

from __future__ import annotations

import graphene  # type: ignore[import-untyped]

from gateway_graphql.api.graphql.mutations import Mutation
from gateway_graphql.api.graphql.queries import Query

__all__ = ["schema"]

schema = graphene.Schema(query=Query, mutation=Mutation)
