"""The execution context: ``graphql-sync-dataloaders``' ``DeferredExecutionContext``, fixed for
graphql-core >= 3.2.10.

graphql-core 3.2.10 added a ``path`` parameter to ``ExecutionContext.handle_field_error`` (errors
are collected per position, ``CollectedErrors``); ``graphql-sync-dataloaders`` 0.1.1 still calls
it with two arguments when a deferred field (one that waited for a loader) fails, which raised a
``TypeError`` and turned the whole response into an internal error. This subclass accepts both
forms and rebuilds the path from the error when it is missing.
"""

from __future__ import annotations

import inspect
from typing import Any, cast

from graphql import ExecutionContext, GraphQLError, GraphQLOutputType
from graphql.pyutils import Path
from graphql_sync_dataloaders import DeferredExecutionContext  # type: ignore[import-untyped]

__all__ = ["GatewayExecutionContext"]

_TAKES_PATH = "path" in inspect.signature(ExecutionContext.handle_field_error).parameters


def _path_of(error: GraphQLError) -> Path | None:
    path: Path | None = None
    for key in error.path or ():
        path = Path(path, key, None)
    return path


class GatewayExecutionContext(DeferredExecutionContext):  # type: ignore[misc]
    """``DeferredExecutionContext`` that works with every graphql-core 3.2.x."""

    def handle_field_error(
        self, error: GraphQLError, return_type: GraphQLOutputType, path: Path | None = None
    ) -> Any:
        if not _TAKES_PATH:  # graphql-core < 3.2.10
            return ExecutionContext.handle_field_error(self, error, return_type)  # type: ignore[call-arg]
        if path is None:
            path = _path_of(error)  # None for a root field: CollectedErrors accepts that
        return ExecutionContext.handle_field_error(self, error, return_type, cast(Path, path))
