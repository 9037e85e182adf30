"""The process-wide default generator behind ``ids.next_id()``, for scripts and the ORM default."""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

from alvin_python_lib.ids.generator import SnowflakeGenerator
from alvin_python_lib.ids.layout import DEFAULT_LAYOUT, SnowflakeLayout, _check_int
from alvin_python_lib.ids.lease import WORKER_ID_ENV, worker_id_from_env
from alvin_python_lib.ids.leased import LeasedGenerator

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["configure", "default_generator", "is_configured", "next_id", "reset"]


class _DefaultState:
    """The module default generator and how it was made."""

    __slots__ = ("forked_from_fixed_id", "generator", "leased", "lock")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.generator: SnowflakeGenerator | None = None
        # Set when the worker id was leased from an engine; a forked child leases its own from it.
        self.leased: LeasedGenerator | None = None
        # In a forked child whose parent used a fixed worker id: refuse to reuse it.
        self.forked_from_fixed_id: int | None = None


_state = _DefaultState()


def configure(
    *,
    worker_id: int | None = None,
    engine: Engine | None = None,
    layout: SnowflakeLayout = DEFAULT_LAYOUT,
) -> SnowflakeGenerator:
    """Set up the generator behind :func:`next_id` for this process and return it.

    The worker id is ``worker_id`` if given, else ``WORKER_ID`` from the environment, else one
    leased from ``engine`` (see :class:`~alvin_python_lib.ids.WorkerLease`). Neither may be the
    database's worker id. Calling it again replaces the previous generator (and releases its lease).
    """
    with _state.lock:
        return _configure_locked(worker_id=worker_id, engine=engine, layout=layout)


def _configure_locked(
    *, worker_id: int | None, engine: Engine | None, layout: SnowflakeLayout
) -> SnowflakeGenerator:
    state = _state
    leased: LeasedGenerator | None = None
    if worker_id is not None:
        _check_int("worker_id", worker_id)
        if not 0 <= worker_id < layout.max_worker_id:
            raise ValueError(
                f"worker_id must be in 0..{layout.max_worker_id - 1} "
                f"({layout.max_worker_id} is the database's worker id), got {worker_id}"
            )
    else:
        worker_id = worker_id_from_env(layout)
        if worker_id is None:
            if engine is None:
                raise ValueError(
                    "alvin_python_lib.ids.configure() needs a worker_id, the "
                    f"{WORKER_ID_ENV} environment variable or an engine to lease one from"
                )
            leased = LeasedGenerator(engine, layout, environ={})
    if leased is not None:
        generator = leased.generator
    else:
        assert worker_id is not None
        generator = SnowflakeGenerator(worker_id, layout)
    old, old_leased = state.generator, state.leased
    if old is not None and old.worker_id == generator.worker_id and old.layout == layout:
        generator._resume_from(old)
    state.generator, state.leased = generator, leased
    state.forked_from_fixed_id = None
    if old_leased is not None:
        old_leased.close()
    return generator


def is_configured() -> bool:
    """True when :func:`configure` has set up the default generator of this process."""
    return _state.generator is not None


def default_generator() -> SnowflakeGenerator:
    """The generator behind :func:`next_id` (``RuntimeError`` when not configured)."""
    generator = _state.generator
    return generator if generator is not None else _default_after_fork()


def next_id() -> int:
    """A new id from the generator set up by :func:`configure`."""
    generator = _state.generator
    if generator is None:
        generator = _default_after_fork()
    return generator.next_id()


def _default_after_fork() -> SnowflakeGenerator:
    state = _state
    with state.lock:
        if state.generator is not None:
            return state.generator
        if state.leased is not None:
            state.generator = state.leased.generator  # a forked child leases its own here
            return state.generator
        if state.forked_from_fixed_id is not None:
            raise RuntimeError(
                "this process was forked from one whose ids use the fixed worker id "
                f"{state.forked_from_fixed_id}; call alvin_python_lib.ids.configure() in the "
                "child with another worker id (or an engine to lease one)"
            )
    raise RuntimeError(
        "no snowflake generator is configured: call alvin_python_lib.ids.configure() "
        "(with worker_id=..., WORKER_ID set, or engine=...) at process start"
    )


def reset() -> None:
    """Forget the module default generator and release its lease (for tests)."""
    state = _state
    with state.lock:
        leased = state.leased
        state.generator = state.leased = None
        state.forked_from_fixed_id = None
    if leased is not None:
        leased.close()


def _after_fork_in_child() -> None:
    state = _state
    state.lock = threading.Lock()  # another thread may have held it at fork time
    if state.generator is not None and state.leased is None:
        state.forked_from_fixed_id = state.generator.worker_id
    state.generator = None


if hasattr(os, "register_at_fork"):  # pragma: no branch - not on Windows
    os.register_at_fork(after_in_child=_after_fork_in_child)
