"""Count the round trips an engine's connections make to PostgreSQL, from libpq's own trace.

A round trip ends with each simple ``Query`` or extended-protocol ``Sync`` the client sends, so
what psycopg sends by itself (``BEGIN``, ``ROLLBACK``), what event hooks send (``SET LOCAL``) and
pool pings count as much as the statements the code wrote: the figure is what the network sees.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["RoundTrips", "round_trips"]

_ENDS = ("Query", "Sync")


@dataclass
class RoundTrips:
    """The round trips seen so far: each the client's first message of it (``Query "BEGIN"``,
    ``Parse ... "SELECT ..."``, ``Bind ...`` for a prepared statement)."""

    trips: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.trips)

    def add_trace(self, text: str) -> None:
        first: str | None = None
        for line in text.splitlines():
            parts = line.split("\t")
            if len(parts) < 4 or parts[1] != "F":
                continue  # the server's messages, or a line without the expected columns
            kind = parts[3].strip()
            message = " ".join(p.strip() for p in parts[3:])
            first = first or message
            if kind in _ENDS:
                self.trips.append(first)
                first = None


@contextmanager
def round_trips(engine: Engine) -> Iterator[RoundTrips]:
    """The round trips of the connections checked out from ``engine`` inside the block.

    psycopg 3 only (``pgconn.trace``). Connections checked out before the block are not traced.
    """
    from sqlalchemy import event  # noqa: PLC0415 - the plugin imports this package: stay light

    found = RoundTrips()
    folder = Path(tempfile.mkdtemp(prefix="alvin-pqtrace-"))
    traced: dict[int, tuple[Any, int, Path]] = {}

    def start(dbapi_connection: Any, *_: Any) -> None:
        pgconn = dbapi_connection.pgconn
        path = folder / f"{len(found.trips)}-{id(dbapi_connection)}-{len(traced)}.trace"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        pgconn.trace(fd)
        traced[id(dbapi_connection)] = (pgconn, fd, path)

    def stop(dbapi_connection: Any, *_: Any) -> None:
        entry = traced.pop(id(dbapi_connection), None)
        if entry is not None:
            _finish(found, *entry)

    event.listen(engine, "checkout", start)
    event.listen(engine, "checkin", stop)
    try:
        yield found
    finally:
        event.remove(engine, "checkout", start)
        event.remove(engine, "checkin", stop)
        for entry in list(traced.values()):
            _finish(found, *entry)
        traced.clear()
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()


def _finish(found: RoundTrips, pgconn: Any, fd: int, path: Path) -> None:
    pgconn.untrace()  # libpq flushes its trace stream here
    os.close(fd)
    found.add_trace(path.read_text(errors="replace"))
