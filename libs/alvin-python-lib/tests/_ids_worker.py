"""Helpers for ``test_ids.py``: one id-generating process, and the ordering checks.

Kept out of the test module so that ``multiprocessing`` (spawn) children import only this.
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
from array import array
from collections.abc import Sequence
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from alvin_python_lib import ids

# (ids, tickets taken just before each call, tickets taken just after it), as array('q') bytes
ThreadResult = tuple[bytes, bytes, bytes]


def generate_concurrently(
    generator: ids.SnowflakeGenerator, threads: int, per_thread: int
) -> list[ThreadResult]:
    """Call ``generator.next_id`` from ``threads`` threads at once, ``per_thread`` times each.

    Every call is bracketed by two tickets of one process-wide counter (atomic under the GIL), so
    that the caller can check the real-time order of calls made by different threads.
    """
    ticket = itertools.count().__next__
    start = threading.Barrier(threads)
    results: list[ThreadResult | None] = [None] * threads

    def run(index: int) -> None:
        new_id = generator.next_id
        out, before, after = array("q"), array("q"), array("q")
        start.wait()
        for _ in range(per_thread):
            b = ticket()
            i = new_id()
            a = ticket()
            before.append(b)
            out.append(i)
            after.append(a)
        results[index] = (out.tobytes(), before.tobytes(), after.tobytes())

    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return [r for r in results if r is not None]


def check_real_time_order(results: Sequence[ThreadResult]) -> int:
    """Assert the ids of one generator are unique, and increasing in the order they were made.

    Each thread's ids must strictly increase, and whenever a call returned before another call
    (on any thread) started, its id must be the smaller: the calls are linearisable in id order.
    Returns the number of ids checked.
    """
    all_ids: array[int] = array("q")
    all_before: array[int] = array("q")
    all_after: array[int] = array("q")
    for raw_ids, raw_before, raw_after in results:
        thread_ids = array("q", raw_ids)
        assert all(x < y for x, y in itertools.pairwise(thread_ids)), "a thread saw ids go down"
        all_ids.extend(thread_ids)
        all_before.frombytes(raw_before)
        all_after.frombytes(raw_after)
    order = sorted(range(len(all_ids)), key=all_ids.__getitem__)
    assert all(all_ids[x] < all_ids[y] for x, y in itertools.pairwise(order)), "duplicate id"
    # Walk from the largest id down: no call with a larger id may have finished before this one
    # started.
    earliest_end_of_larger = sys.maxsize
    for k in reversed(order):
        assert all_before[k] < earliest_end_of_larger, (
            f"id {all_ids[k]} was made after a call that returned a larger id had finished"
        )
        earliest_end_of_larger = min(earliest_end_of_larger, all_after[k])
    return len(all_ids)


def lease_and_generate(
    url: str,
    namespace: int,
    threads: int,
    per_thread: int,
    all_leased: Any,  # multiprocessing Barrier
    results: Any,  # multiprocessing Queue
) -> None:
    """A process of the multi-process test: lease a worker id, then generate ids from threads."""
    sys.setswitchinterval(0.0002)  # switch threads often: more interleaving, more contention
    engine = create_engine(url, poolclass=NullPool)
    try:
        with ids.lease_worker_id(engine, namespace=namespace, environ={}) as lease:
            # Every process holds its lease before anyone generates: the worker ids are distinct.
            all_leased.wait(timeout=120)
            generator = ids.SnowflakeGenerator(lease.worker_id)
            out = generate_concurrently(generator, threads, per_thread)
            results.put((os.getpid(), lease.worker_id, out))
    except BaseException as exc:  # report instead of leaving the others waiting
        all_leased.abort()
        results.put((os.getpid(), -1, repr(exc)))
        raise
    finally:
        engine.dispose()
