"""The in-process snowflake generator: strictly increasing ids for one worker id."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from alvin_python_lib.ids.layout import DEFAULT_LAYOUT, SnowflakeLayout, _check_int

__all__ = ["ClockMovedBackwards", "IdGenerator", "SnowflakeGenerator"]

_time_ns = time.time_ns


def _wall_clock_ms() -> int:
    """Unix time in whole milliseconds (floor), the default generator clock."""
    return _time_ns() // 1_000_000


@runtime_checkable
class IdGenerator(Protocol):
    """What code that makes ids needs: :class:`SnowflakeGenerator`, a leased generator, a fake."""

    def next_id(self) -> int:
        """A new id, greater than every id this generator returned before."""
        ...  # pragma: no cover


class ClockMovedBackwards(RuntimeError):
    """The clock stepped back further than the generator's ``max_backwards_ms``.

    Raised instead of risking a duplicate id; ``behind_ms`` says how far back the clock went.
    """

    def __init__(self, behind_ms: int, max_backwards_ms: int) -> None:
        self.behind_ms = behind_ms
        self.max_backwards_ms = max_backwards_ms
        super().__init__(
            f"clock moved backwards by {behind_ms} ms (more than the tolerated "
            f"{max_backwards_ms} ms); refusing to generate ids until it catches up"
        )


class SnowflakeGenerator:
    """Thread-safe generator of strictly increasing ids for one worker id.

    ``clock`` returns the Unix time in whole milliseconds (injectable for tests); ``sleep`` is used
    while waiting for a clock that stepped back by at most ``max_backwards_ms``. A bigger step back
    raises :class:`ClockMovedBackwards`. When the sequence of one millisecond is exhausted the
    generator waits (spinning on the clock) for the next millisecond, which caps one generator at
    ``2**sequence_bits`` ids per millisecond (4,096,000 ids/s with the default layout). The
    generator never returns the same id twice, but it cannot know about other generators: give
    each one its own worker id.
    """

    __slots__ = (
        "_base",
        "_clock",
        "_last_ms",
        "_layout",
        "_lock",
        "_max_backwards_ms",
        "_max_ms",
        "_max_sequence",
        "_sequence",
        "_sleep",
        "_time_shift",
        "_worker_id",
    )

    def __init__(
        self,
        worker_id: int,
        layout: SnowflakeLayout = DEFAULT_LAYOUT,
        *,
        clock: Callable[[], int] | None = None,
        max_backwards_ms: int = 10,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        _check_int("worker_id", worker_id)
        if not 0 <= worker_id <= layout.max_worker_id:
            raise ValueError(f"worker_id must be in 0..{layout.max_worker_id}, got {worker_id}")
        if _check_int("max_backwards_ms", max_backwards_ms) < 0:
            raise ValueError("max_backwards_ms must be >= 0")
        self._worker_id = worker_id
        self._layout = layout
        self._clock: Callable[[], int] = clock if clock is not None else _wall_clock_ms
        self._sleep = sleep
        self._max_backwards_ms = max_backwards_ms
        self._lock = threading.Lock()
        self._time_shift = layout.time_shift
        # id == (ms << time_shift) + base + sequence, for Unix milliseconds ms
        self._base = (worker_id << layout.worker_shift) - (layout.epoch_ms << layout.time_shift)
        self._max_sequence = layout.max_sequence
        self._max_ms = layout.max_ms
        # Before the first id: any clock reading >= epoch is "new", and an exhausted sequence sends
        # a reading of epoch - 1 (or earlier) to the slow path, which rejects it.
        self._last_ms = layout.epoch_ms - 1
        self._sequence = layout.max_sequence

    @property
    def worker_id(self) -> int:
        return self._worker_id

    @property
    def layout(self) -> SnowflakeLayout:
        return self._layout

    def __repr__(self) -> str:
        return f"SnowflakeGenerator(worker_id={self._worker_id}, layout={self._layout!r})"

    def next_id(self) -> int:
        """A new id, greater than every id this generator returned before."""
        with self._lock:
            ms = self._clock()
            if ms > self._last_ms:
                if ms > self._max_ms:
                    raise OverflowError("the clock is past the last time the layout can represent")
                self._last_ms = ms
                self._sequence = 0
                return (ms << self._time_shift) + self._base
            if ms == self._last_ms and self._sequence < self._max_sequence:
                self._sequence += 1
                return (ms << self._time_shift) + self._base + self._sequence
            return self._next_id_slow(ms)

    def _next_id_slow(self, ms: int) -> int:
        # Lock held. Either this millisecond's sequence is exhausted or the clock is behind.
        clock = self._clock
        last = self._last_ms
        if ms < self._layout.epoch_ms:
            raise RuntimeError(
                f"the clock ({ms} ms) is before the layout's epoch ({self._layout.epoch_ms} ms)"
            )
        while True:
            if ms > last:
                if ms > self._max_ms:
                    raise OverflowError("the clock is past the last time the layout can represent")
                self._last_ms = ms
                self._sequence = 0
                return (ms << self._time_shift) + self._base
            if ms == last and self._sequence < self._max_sequence:
                self._sequence += 1
                return (ms << self._time_shift) + self._base + self._sequence
            behind = last - ms
            if behind > self._max_backwards_ms:
                raise ClockMovedBackwards(behind, self._max_backwards_ms)
            if behind:
                # The clock stepped back a little: wait for it to reach the last millisecond used.
                self._sleep(behind / 1000)
            # else: sequence exhausted, spin until the next millisecond (less than 1 ms away).
            ms = clock()

    def _resume_from(self, other: SnowflakeGenerator) -> None:
        """Continue after ``other`` (same worker id and layout): never repeat its ids."""
        with other._lock, self._lock:
            if (other._last_ms, other._sequence) > (self._last_ms, self._sequence):
                self._last_ms = other._last_ms
                self._sequence = other._sequence

    def _wait_past_last_ms(self) -> None:
        """Wait until the clock is past the last millisecond used (before freeing the worker id)."""
        with self._lock:
            deadline = time.monotonic() + (self._max_backwards_ms + 2) / 1000
            while self._clock() <= self._last_ms and time.monotonic() < deadline:
                self._sleep(0.0002)
