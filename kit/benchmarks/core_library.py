"""The core library's two ratios, read from the file libs/alvin-python-lib/benchmarks/run.py
writes (``--core-json``): snowflake ids against uuid4 (>= 2x), the ``db`` fixture against
TRUNCATE (>= 10x)."""

from __future__ import annotations

import json
from pathlib import Path

from harness import Results, Target


def core_library(results: Results, path: Path | None) -> None:
    if path is None or not path.exists():
        results.notes.append("core library figures not found (run with --core-json)")
        return
    data = json.loads(path.read_text())
    ids, db = data["ids"], data["db_fixture"]
    results.targets.append(
        Target(
            "core: snowflake ids vs uuid4",
            f"{ids['snowflake_per_s']:,.0f}/s = {ids['ratio']:.1f}x",
            f"uuid.uuid4() {ids['uuid4_per_s']:,.0f}/s",
            ">= 2x",
            ids["ratio"] >= 2,
        )
    )
    results.targets.append(
        Target(
            "core: db fixture vs TRUNCATE",
            f"{db['savepoint_ms_per_test']:.3f} ms/test = {db['ratio']:.1f}x faster",
            f"TRUNCATE {db['truncate_ms_per_test']:.3f} ms/test",
            ">= 10x",
            db["ratio"] >= 10,
        )
    )
