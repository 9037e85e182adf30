"""Benchmarks of the core library: figures side by side, measured in one run. Never fails.

1. Snowflake IDs per second (one thread) next to ``uuid.uuid4()`` per second.
2. Per-test cost of the ``db`` fixture's isolation (outer transaction + SAVEPOINT session, rolled
   back) next to resetting the same schema with TRUNCATE of all its tables, each around the same
   small test body (insert two rows and commit).

Usage: ``python benchmarks/run.py [--json FILE]``; uses ``TEST_DATABASE_URL`` when set, otherwise an
embedded PostgreSQL. Prints medians of repeated runs and the ratios against their targets.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import timeit
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import BigInteger, Column, ForeignKey, MetaData, String, Table, insert, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from alvin_python_lib import ids
from alvin_python_lib.db import create_engine
from alvin_python_lib.testing import isolated_session

REPEATS = 7
TABLES = 12  # a modest service schema


def _median_rate(fn: Callable[[], object], number: int) -> float:
    timer = timeit.Timer(fn)
    timer.timeit(number // 10)  # warm up
    return statistics.median(number / t for t in timer.repeat(REPEATS, number))


def bench_ids() -> dict[str, float]:
    generator = ids.SnowflakeGenerator(worker_id=1)
    snowflake = _median_rate(generator.next_id, 200_000)
    uuids = _median_rate(uuid.uuid4, 200_000)
    return {"snowflake_per_s": snowflake, "uuid4_per_s": uuids, "ratio": snowflake / uuids}


def _schema() -> MetaData:
    metadata = MetaData()
    parent = None
    for i in range(TABLES):
        cols: list[Column[object]] = [
            Column("id", BigInteger, primary_key=True),
            Column("name", String(50), nullable=False, unique=True),
        ]
        if parent is not None:
            cols.append(Column("parent_id", BigInteger, ForeignKey(f"{parent}.id")))
        Table(f"t{i}", metadata, *cols)
        parent = f"t{i}"
    return metadata


def _test_body(session: Session, metadata: MetaData, n: int) -> None:
    first = metadata.tables["t0"]
    session.execute(insert(first).values(id=ids.next_id(), name=f"a{n}"))
    session.execute(insert(first).values(id=ids.next_id(), name=f"b{n}"))
    session.commit()


def bench_db_fixture(engine: Engine, metadata: MetaData, rounds: int = 200) -> dict[str, float]:
    table_list = ", ".join(t.name for t in metadata.sorted_tables)

    def savepoint_round(n: int) -> None:
        with isolated_session(engine) as session:  # exactly what the `db` fixture does
            _test_body(session, metadata, n)

    def truncate_round(n: int) -> None:
        with Session(bind=engine) as session:
            _test_body(session, metadata, n)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {table_list} RESTART IDENTITY CASCADE"))

    def per_test_ms(fn: Callable[[int], None]) -> float:
        samples = []
        for _ in range(REPEATS):
            start = time.perf_counter()
            for n in range(rounds):
                fn(n)
            samples.append((time.perf_counter() - start) / rounds * 1000)
        return statistics.median(samples)

    savepoint_round(-1)
    truncate_round(-1)
    savepoint_ms = per_test_ms(savepoint_round)
    truncate_ms = per_test_ms(truncate_round)
    return {
        "savepoint_ms_per_test": savepoint_ms,
        "truncate_ms_per_test": truncate_ms,
        "ratio": truncate_ms / savepoint_ms,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    id_figures = bench_ids()
    server = None
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        from alvin_python_lib.embedded import start_postgres

        server = start_postgres(tempfile.mkdtemp(prefix="alvin-bench-"), keep_data=False)
        url = server.url
    engine = create_engine(url, poolclass=NullPool)
    metadata = _schema()
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS alvin_bench CASCADE"))
            conn.execute(text("CREATE SCHEMA alvin_bench"))
        engine.dispose()
        # Pooled without pre-ping, as the plugin's db_engine; both strategies use this engine.
        engine = create_engine(
            url, pool_pre_ping=False, connect_args={"options": "-c search_path=alvin_bench"}
        )
        metadata.create_all(engine)
        ids.configure(worker_id=1)
        db_figures = bench_db_fixture(engine, metadata)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA alvin_bench CASCADE"))
    finally:
        ids.reset()
        engine.dispose()
        if server is not None:
            server.stop()

    rows = [
        (
            "snowflake ids vs uuid4 (1 thread)",
            f"{id_figures['snowflake_per_s']:,.0f}/s vs {id_figures['uuid4_per_s']:,.0f}/s",
            id_figures["ratio"],
            2.0,
        ),
        (
            f"db fixture vs TRUNCATE ({TABLES} tables)",
            f"{db_figures['savepoint_ms_per_test']:.3f} ms vs "
            f"{db_figures['truncate_ms_per_test']:.3f} ms per test",
            db_figures["ratio"],
            10.0,
        ),
    ]
    met = 0
    print(f"{'benchmark':<36} {'figures':<40} {'ratio':>7} {'target':>7}  met")
    for name, figures, ratio, target in rows:
        ok = ratio >= target
        met += ok
        print(f"{name:<36} {figures:<40} {ratio:>6.1f}x {target:>6.1f}x  {'yes' if ok else 'NO'}")
    print(f"alvin-python-lib bench: {met} of {len(rows)} targets met")
    if args.json:
        args.json.write_text(json.dumps({"ids": id_figures, "db_fixture": db_figures}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
