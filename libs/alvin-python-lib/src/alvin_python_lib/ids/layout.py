"""The bit layout of a snowflake id, and turning ids into times and times into id bounds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Final, NamedTuple

__all__ = [
    "DEFAULT_EPOCH_MS",
    "DEFAULT_LAYOUT",
    "MAX_ID",
    "DecodedId",
    "SnowflakeLayout",
    "decode",
    "id_to_datetime",
    "max_id_for",
    "min_id_for",
]

#: 2024-01-01T00:00:00Z in Unix milliseconds, the default epoch.
DEFAULT_EPOCH_MS: Final = 1_704_067_200_000
#: The largest id of any layout (bit 63 is never set).
MAX_ID: Final = (1 << 63) - 1

_UNIX_EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_MS: Final = timedelta(milliseconds=1)


def _ms_to_datetime(unix_ms: int) -> datetime:
    return _UNIX_EPOCH + timedelta(milliseconds=unix_ms)


def _datetime_to_ms(moment: datetime) -> int:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("a timezone-aware datetime is required (naive datetimes are ambiguous)")
    return (moment - _UNIX_EPOCH) // _ONE_MS


def _check_int(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    return value


@dataclass(frozen=True)
class SnowflakeLayout:
    """The bit layout of an id: ``time_bits + worker_bits + sequence_bits == 63``.

    ``epoch_ms`` is the Unix time in milliseconds that the time field counts from.
    """

    epoch_ms: int = DEFAULT_EPOCH_MS
    time_bits: int = 41
    worker_bits: int = 10
    sequence_bits: int = 12

    def __post_init__(self) -> None:
        for name in ("epoch_ms", "time_bits", "worker_bits", "sequence_bits"):
            _check_int(name, getattr(self, name))
        if self.epoch_ms < 0:
            raise ValueError("epoch_ms must be >= 0 (Unix milliseconds)")
        if self.time_bits < 41:
            raise ValueError("time_bits must be >= 41 (about 69 years)")
        if self.worker_bits < 1 or self.sequence_bits < 1:
            raise ValueError("worker_bits and sequence_bits must be >= 1")
        total = self.time_bits + self.worker_bits + self.sequence_bits
        if total != 63:
            raise ValueError(f"time_bits + worker_bits + sequence_bits must be 63, got {total}")

    @classmethod
    def from_epoch(cls, epoch: datetime, **bits: int) -> SnowflakeLayout:
        """A layout whose epoch is the timezone-aware ``epoch``."""
        return cls(_datetime_to_ms(epoch), **bits)

    @property
    def epoch(self) -> datetime:
        """The epoch as a UTC datetime."""
        return _ms_to_datetime(self.epoch_ms)

    @property
    def max_worker_id(self) -> int:
        """The highest worker id; it is the database's (see :attr:`database_worker_id`)."""
        return (1 << self.worker_bits) - 1

    @property
    def database_worker_id(self) -> int:
        """The worker id of the SQL ``next_id()`` function, never leased to Python processes."""
        return self.max_worker_id

    @property
    def max_sequence(self) -> int:
        return (1 << self.sequence_bits) - 1

    @property
    def worker_shift(self) -> int:
        return self.sequence_bits

    @property
    def time_shift(self) -> int:
        return self.worker_bits + self.sequence_bits

    @property
    def max_ms(self) -> int:
        """The last Unix millisecond that the time field can represent."""
        return self.epoch_ms + (1 << self.time_bits) - 1

    def compose(self, unix_ms: int, worker_id: int, sequence: int) -> int:
        """The id for ``unix_ms`` (Unix milliseconds), ``worker_id`` and ``sequence``."""
        if not self.epoch_ms <= unix_ms <= self.max_ms:
            raise ValueError(f"{unix_ms} ms is outside the layout's time range")
        if not 0 <= worker_id <= self.max_worker_id:
            raise ValueError(f"worker_id must be in 0..{self.max_worker_id}, got {worker_id}")
        if not 0 <= sequence <= self.max_sequence:
            raise ValueError(f"sequence must be in 0..{self.max_sequence}, got {sequence}")
        return (
            ((unix_ms - self.epoch_ms) << self.time_shift)
            | (worker_id << self.worker_shift)
            | sequence
        )


#: The layout of the kit: 41 bits of milliseconds since 2024-01-01Z, 10 worker bits, 12 sequence bits.
DEFAULT_LAYOUT: Final = SnowflakeLayout()


class DecodedId(NamedTuple):
    """The fields of an id. ``ms`` is the Unix time in milliseconds (the same as ``timestamp``)."""

    timestamp: datetime
    worker_id: int
    sequence: int
    ms: int


def decode(snowflake_id: int, layout: SnowflakeLayout = DEFAULT_LAYOUT) -> DecodedId:
    """Split an id into its creation time (UTC), worker id and sequence."""
    _check_int("snowflake_id", snowflake_id)
    if not 0 <= snowflake_id <= MAX_ID:
        raise ValueError(f"{snowflake_id} is not a snowflake id (0 .. 2**63-1)")
    unix_ms = (snowflake_id >> layout.time_shift) + layout.epoch_ms
    return DecodedId(
        timestamp=_ms_to_datetime(unix_ms),
        worker_id=(snowflake_id >> layout.worker_shift) & layout.max_worker_id,
        sequence=snowflake_id & layout.max_sequence,
        ms=unix_ms,
    )


def id_to_datetime(snowflake_id: int, layout: SnowflakeLayout = DEFAULT_LAYOUT) -> datetime:
    """The creation time of an id (UTC, millisecond precision)."""
    return decode(snowflake_id, layout).timestamp


def min_id_for(moment: datetime, layout: SnowflakeLayout = DEFAULT_LAYOUT) -> int:
    """The smallest id that can be created at ``moment`` (timezone-aware).

    Ids created at or after ``moment`` are ``>= min_id_for(moment)``, so the ids created in
    ``[start, end)`` are ``min_id_for(start) <= id < min_id_for(end)`` (at millisecond precision:
    ``moment`` is rounded down to its millisecond). Moments before the epoch give
    0; moments after the layout's range raise ``ValueError``.
    """
    unix_ms = _datetime_to_ms(moment)
    if unix_ms < layout.epoch_ms:
        return 0
    if unix_ms > layout.max_ms:
        raise ValueError(f"{moment.isoformat()} is after the last time the layout can represent")
    return (unix_ms - layout.epoch_ms) << layout.time_shift


def max_id_for(moment: datetime, layout: SnowflakeLayout = DEFAULT_LAYOUT) -> int:
    """The largest id that can be created in the millisecond of ``moment`` (timezone-aware)."""
    unix_ms = _datetime_to_ms(moment)
    if unix_ms < layout.epoch_ms:
        raise ValueError(f"{moment.isoformat()} is before the layout's epoch")
    if unix_ms > layout.max_ms:
        raise ValueError(f"{moment.isoformat()} is after the last time the layout can represent")
    return ((unix_ms + 1 - layout.epoch_ms) << layout.time_shift) - 1
