"""A generator on a leased worker id, built and closed by its owner (a service's composition root)."""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING

from alvin_python_lib.ids.generator import SnowflakeGenerator
from alvin_python_lib.ids.layout import DEFAULT_LAYOUT, SnowflakeLayout
from alvin_python_lib.ids.lease import LEASE_NAMESPACE, WORKER_ID_ENV, WorkerLease

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["LeasedGenerator", "lease_generator"]


class LeasedGenerator:
    """A :class:`SnowflakeGenerator` on a worker id that is held for as long as this object is open.

    The worker id is ``WORKER_ID`` when set (pass ``environ={}`` to ignore it), else a
    :class:`WorkerLease` on ``engine``. :meth:`close` (or the end of a ``with`` block) waits until
    the clock is past the last millisecond used, then frees the worker id, so whoever leases the
    slot next cannot repeat an id. ``clock`` and ``max_backwards_ms`` go to the generator.

    It may be built before a fork: a forked child never uses the parent's worker id. With a leased
    id the child leases its own on its first :meth:`next_id`; with a ``WORKER_ID`` id the child's
    :meth:`next_id` raises ``RuntimeError`` (each process needs its own id).
    """

    def __init__(
        self,
        engine: Engine,
        layout: SnowflakeLayout = DEFAULT_LAYOUT,
        *,
        namespace: int = LEASE_NAMESPACE,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], int] | None = None,
        max_backwards_ms: int = 10,
    ) -> None:
        self._engine = engine
        self._layout = layout
        self._namespace = namespace
        self._environ = environ
        self._clock = clock
        self._max_backwards_ms = max_backwards_ms
        self._lock = threading.Lock()
        self._closed = False
        self._forked_from_fixed_id: int | None = None
        self._lease: WorkerLease | None = None
        self._generator: SnowflakeGenerator | None = None
        self._start()
        _live_generators.add(self)

    def _start(self) -> SnowflakeGenerator:
        lease = WorkerLease(
            self._engine, self._layout, namespace=self._namespace, environ=self._environ
        )
        try:
            generator = SnowflakeGenerator(
                lease.worker_id,
                self._layout,
                clock=self._clock,
                max_backwards_ms=self._max_backwards_ms,
            )
        except BaseException:
            lease.release()
            raise
        self._lease, self._generator = lease, generator
        return generator

    @property
    def generator(self) -> SnowflakeGenerator:
        """The generator in use (a forked child leases its own here)."""
        generator = self._generator
        return generator if generator is not None else self._renew()

    @property
    def lease(self) -> WorkerLease:
        """The lease behind :attr:`worker_id`."""
        self.generator  # noqa: B018 - makes sure a forked child has its own lease
        assert self._lease is not None
        return self._lease

    @property
    def worker_id(self) -> int:
        return self.generator.worker_id

    @property
    def layout(self) -> SnowflakeLayout:
        return self._layout

    @property
    def closed(self) -> bool:
        return self._closed

    def next_id(self) -> int:
        """A new id, greater than every id this object returned before in this process."""
        generator = self._generator
        if generator is None:
            generator = self._renew()
        return generator.next_id()

    def _renew(self) -> SnowflakeGenerator:
        with self._lock:
            if self._generator is not None:
                return self._generator
            if self._closed:
                raise RuntimeError("this LeasedGenerator is closed")
            if self._forked_from_fixed_id is not None:
                raise RuntimeError(
                    "this process was forked from one whose ids use the fixed worker id "
                    f"{self._forked_from_fixed_id} ({WORKER_ID_ENV}); give the child its own "
                    "worker id"
                )
            return self._start()

    def close(self) -> None:
        """Free the worker id (idempotent; in a forked child, the parent's stays with the parent)."""
        with self._lock:
            generator, lease = self._generator, self._lease
            self._generator = self._lease = None
            self._closed = True
        _live_generators.discard(self)
        if lease is None:
            return
        if generator is not None and lease.held:
            generator._wait_past_last_ms()
        lease.release()

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()  # another thread may have held it at fork time
        lease = self._lease
        if lease is not None and lease.from_env:
            self._forked_from_fixed_id = lease.worker_id
        # The lease's own fork hook has made its inherited connection harmless.
        self._generator = self._lease = None

    def __enter__(self) -> LeasedGenerator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        generator = self._generator
        if self._closed:
            state = "closed"
        elif generator is None:
            state = "worker id leased on first use"
        else:
            state = f"worker_id={generator.worker_id}"
        return f"LeasedGenerator({state}, layout={self._layout!r})"


_live_generators: weakref.WeakSet[LeasedGenerator] = weakref.WeakSet()


def lease_generator(
    engine: Engine,
    layout: SnowflakeLayout = DEFAULT_LAYOUT,
    *,
    namespace: int = LEASE_NAMESPACE,
    environ: Mapping[str, str] | None = None,
    clock: Callable[[], int] | None = None,
    max_backwards_ms: int = 10,
) -> LeasedGenerator:
    """A generator on a worker id leased from ``engine``, for the caller to hand in and close.

    ::

        generator = ids.lease_generator(database.engine)  # at process start, in the root
        try:
            serve(make_service(ids=generator))            # code calls generator.next_id()
        finally:
            generator.close()
    """
    return LeasedGenerator(
        engine,
        layout,
        namespace=namespace,
        environ=environ,
        clock=clock,
        max_backwards_ms=max_backwards_ms,
    )


def _renew_generators_in_child() -> None:
    for generator in list(_live_generators):
        generator._after_fork_in_child()


if hasattr(os, "register_at_fork"):  # pragma: no branch - not on Windows
    os.register_at_fork(after_in_child=_renew_generators_in_child)
