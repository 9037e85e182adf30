"""Per-request batching of user lookups: every ``load`` of one execution step becomes ONE
BatchGetUsers call.

Built on ``graphql-sync-dataloaders`` (sync Flask views cannot use graphene's asyncio DataLoader):
``load`` returns a ``SyncFuture`` that ``DeferredExecutionContext`` resolves after the step, when
the loader has collected every id that the step asked for. Users already known in the request
(the viewer, a listed page) are returned at once without a call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql_sync_dataloaders import SyncDataLoader, SyncFuture  # type: ignore[import-untyped]

from gateway_graphql.service.accounts import Accounts, User

__all__ = ["UserLoader", "then"]


def then(value: Any, callback: Callable[[Any], Any]) -> Any:
    """``callback(value)``, now or once ``value`` (a ``SyncFuture``) is resolved.

    The returned future keeps the loader's dispatch hook, so that the execution context still
    triggers the batch when it sees the chained future.
    """
    if not isinstance(value, SyncFuture):
        return callback(value)
    if value.done():
        return callback(value.result())
    chained = SyncFuture()
    chained.deferred_callback = value.deferred_callback

    def resolve() -> None:
        try:
            chained.set_result(callback(value.result()))
        except Exception as error:  # handed to the field that asked
            chained.set_exception(error)

    value.add_done_callback(resolve)
    return chained


class UserLoader:
    """Loads users by id for one request; a missing user loads as None."""

    def __init__(self, accounts: Accounts) -> None:
        self._accounts = accounts
        self._known: dict[int, User] = {}
        self._loader = SyncDataLoader(self._batch)
        self.batches = 0

    def prime(self, user: User) -> None:
        """Remember a user fetched another way (no call will be made for it)."""
        self._known[user.id] = user

    def load(self, user_id: int) -> Any:
        """The user (or None), or a ``SyncFuture`` of it."""
        known = self._known.get(user_id)
        return known if known is not None else self._loader.load(user_id)

    def _batch(self, user_ids: list[int]) -> list[User | Exception | None]:
        self.batches += 1
        try:
            found = self._accounts.get_users(user_ids)
        except Exception as error:  # every field that asked gets the error
            return [error] * len(user_ids)
        self._known.update(found)
        return [found.get(user_id) for user_id in user_ids]
