from __future__ import annotations

import itertools
import multiprocessing
import os
import queue
import random
import secrets
import sys
import time
from array import array
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast

import pytest
from _ids_worker import check_real_time_order, generate_concurrently, lease_and_generate
from sqlalchemy import BigInteger, MetaData, String, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.sql.schema import CallableColumnDefault, DefaultClause

from alvin_python_lib import ids
from alvin_python_lib.ids import default as ids_default
from alvin_python_lib.ids import lease as ids_lease

T0 = ids.DEFAULT_EPOCH_MS + 10_000_000  # an arbitrary Unix millisecond for fake clocks
SMALL = ids.SnowflakeLayout(time_bits=51, worker_bits=2, sequence_bits=10)  # 3 leasable slots


def _no_sleep(seconds: float) -> None:
    raise AssertionError(f"the generator slept ({seconds} s) where it should not")


def scripted_clock(*readings: int) -> Callable[[], int]:
    """A clock that returns ``readings`` in turn, then keeps returning the last one."""
    it = iter(readings)
    last = readings[-1]

    def clock() -> int:
        return next(it, last)

    return clock


@pytest.fixture
def fresh_default(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No module default generator during the test; the previous one (e.g. the plugin's) after."""
    state = ids_default._state
    saved = (state.generator, state.leased, state.forked_from_fixed_id)
    state.generator = state.leased = state.forked_from_fixed_id = None
    monkeypatch.delenv(ids.WORKER_ID_ENV, raising=False)
    try:
        yield
    finally:
        ids.reset()
        state.generator, state.leased, state.forked_from_fixed_id = saved


@pytest.fixture
def namespace() -> int:
    """An advisory-lock namespace of this test only."""
    while True:
        value = random.randrange(1, 2**31 - 1)
        if value != ids.LEASE_NAMESPACE:
            return value


def lock_is_free(engine: Engine, namespace: int, slot: int) -> bool:
    with engine.connect() as conn:
        got = bool(
            conn.scalar(text("SELECT pg_try_advisory_lock(:n, :s)"), {"n": namespace, "s": slot})
        )
        if got:
            conn.execute(text("SELECT pg_advisory_unlock(:n, :s)"), {"n": namespace, "s": slot})
        conn.rollback()
        return got


@pytest.fixture
def schema(db_engine: Engine) -> Iterator[str]:
    name = f"ids_test_{secrets.token_hex(4)}"
    with db_engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{name}"')
    try:
        yield name
    finally:
        with db_engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{name}" CASCADE')


# --------------------------------------------------------------------------------------------
# Layout and decoding
# --------------------------------------------------------------------------------------------


def test_default_layout_is_the_documented_one() -> None:
    layout = ids.DEFAULT_LAYOUT
    assert (layout.time_bits, layout.worker_bits, layout.sequence_bits) == (41, 10, 12)
    assert layout.epoch == datetime(2024, 1, 1, tzinfo=timezone.utc)
    assert layout.epoch_ms == ids.DEFAULT_EPOCH_MS
    assert (layout.time_shift, layout.worker_shift) == (22, 12)
    assert (layout.max_worker_id, layout.database_worker_id, layout.max_sequence) == (
        1023,
        1023,
        4095,
    )
    assert layout.max_ms - layout.epoch_ms == 2**41 - 1
    assert layout.compose(layout.epoch_ms + 1, 1, 1) == (1 << 22) | (1 << 12) | 1
    biggest = layout.compose(layout.max_ms, 1023, 4095)
    assert biggest == ids.MAX_ID == 2**63 - 1  # bit 63 stays clear: a positive BIGINT
    # A fixed positive int32, chosen once with zlib.crc32 of the library's first name: it must not
    # follow a rename of the kit (tools/rename.py), or old and new replicas would lease worker
    # slots under different keys.
    assert ids.LEASE_NAMESPACE == 0x1BCF_A6B4


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"time_bits": 42}, "must be 63"),
        ({"time_bits": 40, "worker_bits": 12, "sequence_bits": 11}, ">= 41"),
        ({"time_bits": 53, "worker_bits": 0, "sequence_bits": 10}, ">= 1"),
        ({"time_bits": 53, "worker_bits": 10, "sequence_bits": 0}, ">= 1"),
        ({"epoch_ms": -1}, ">= 0"),
    ],
)
def test_layout_validation(kwargs: dict[str, int], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        ids.SnowflakeLayout(**kwargs)


def test_layout_rejects_non_ints_and_is_frozen() -> None:
    with pytest.raises(TypeError):
        ids.SnowflakeLayout(time_bits=43.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ids.SnowflakeLayout(worker_bits=True)
    with pytest.raises(AttributeError):
        ids.DEFAULT_LAYOUT.time_bits = 41  # type: ignore[misc]


def test_layout_from_epoch() -> None:
    epoch = datetime(2030, 6, 1, tzinfo=timezone.utc)
    layout = ids.SnowflakeLayout.from_epoch(epoch, time_bits=41, worker_bits=12, sequence_bits=10)
    assert layout.epoch == epoch
    assert layout.max_worker_id == 4095
    with pytest.raises(ValueError, match="timezone-aware"):
        ids.SnowflakeLayout.from_epoch(datetime(2030, 6, 1))


def test_decode_round_trip() -> None:
    generator = ids.SnowflakeGenerator(7)
    before = datetime.now(timezone.utc)
    first, second = generator.next_id(), generator.next_id()
    after = datetime.now(timezone.utc)
    decoded = ids.decode(first)
    assert decoded.worker_id == 7
    assert decoded.timestamp.tzinfo is timezone.utc
    assert before - timedelta(milliseconds=2) <= decoded.timestamp <= after
    assert decoded.ms == (decoded.timestamp - datetime(1970, 1, 1, tzinfo=timezone.utc)) // (
        timedelta(milliseconds=1)
    )
    assert ids.id_to_datetime(first) == decoded.timestamp
    nxt = ids.decode(second)
    assert (nxt.ms, nxt.sequence) > (decoded.ms, decoded.sequence)
    assert ids.DEFAULT_LAYOUT.compose(decoded.ms, 7, decoded.sequence) == first


def test_decode_fields_exactly() -> None:
    layout = ids.DEFAULT_LAYOUT
    value = layout.compose(T0, 513, 77)
    assert ids.decode(value) == ids.DecodedId(
        timestamp=datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=T0),
        worker_id=513,
        sequence=77,
        ms=T0,
    )
    for bad in (-1, 2**63):
        with pytest.raises(ValueError, match="not a snowflake id"):
            ids.decode(bad)


def test_decode_with_another_layout() -> None:
    value = SMALL.compose(SMALL.epoch_ms + 5, 2, 9)
    assert ids.decode(value, SMALL)[1:] == (2, 9, SMALL.epoch_ms + 5)


def test_min_and_max_id_for() -> None:
    generator = ids.SnowflakeGenerator(3)
    made = [generator.next_id() for _ in range(50)]
    for value in made:
        at = ids.id_to_datetime(value)
        assert ids.min_id_for(at) <= value <= ids.max_id_for(at)
        assert value < ids.min_id_for(at + timedelta(milliseconds=1))
        assert ids.max_id_for(at - timedelta(milliseconds=1)) < value
    moment = datetime(2025, 3, 4, 5, 6, 7, 890_123, tzinfo=timezone.utc)
    low = ids.min_id_for(moment)
    assert ids.decode(low)[1:] == (0, 0, ids.decode(low).ms)
    assert ids.id_to_datetime(low) == moment.replace(microsecond=890_000)
    assert ids.max_id_for(moment) == ids.min_id_for(moment + timedelta(milliseconds=1)) - 1
    # other time zones mean the same instant
    assert ids.min_id_for(moment.astimezone(timezone(timedelta(hours=5)))) == low
    assert ids.min_id_for(datetime(2000, 1, 1, tzinfo=timezone.utc)) == 0
    with pytest.raises(ValueError, match="timezone-aware"):
        ids.min_id_for(datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="after the last"):
        ids.min_id_for(datetime(2400, 1, 1, tzinfo=timezone.utc))


# --------------------------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------------------------


def test_generator_validates_its_arguments() -> None:
    for bad in (-1, 1024):
        with pytest.raises(ValueError, match="worker_id"):
            ids.SnowflakeGenerator(bad)
    with pytest.raises(TypeError):
        ids.SnowflakeGenerator(True)
    with pytest.raises(ValueError, match="worker_id"):
        ids.SnowflakeGenerator(4, SMALL)
    with pytest.raises(ValueError, match="max_backwards_ms"):
        ids.SnowflakeGenerator(1, max_backwards_ms=-1)
    generator = ids.SnowflakeGenerator(1023)  # allowed: the generator does not lease
    assert generator.worker_id == 1023
    assert generator.layout is ids.DEFAULT_LAYOUT


def test_ids_strictly_increase_across_threads() -> None:
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads very often
    try:
        generator = ids.SnowflakeGenerator(11)
        results = generate_concurrently(generator, threads=4, per_thread=20_000)
    finally:
        sys.setswitchinterval(interval)
    assert check_real_time_order(results) == 80_000
    assert {ids.decode(v).worker_id for r in results for v in array("q", r[0])} == {11}


def test_sequence_overflow_waits_for_the_next_millisecond() -> None:
    calls = itertools.count(1)
    per_ms = ids.DEFAULT_LAYOUT.max_sequence + 1
    spins = 37

    def clock() -> int:
        # T0 for the first per_ms ids (4096 in the default layout) and for `spins` more readings, then T0 + 1
        return T0 if next(calls) <= per_ms + 1 + spins else T0 + 1

    generator = ids.SnowflakeGenerator(5, clock=clock, sleep=_no_sleep)
    made = [generator.next_id() for _ in range(per_ms + 1)]
    assert [ids.decode(v).sequence for v in made[:per_ms]] == list(range(per_ms))
    assert {ids.decode(v).ms for v in made[:per_ms]} == {T0}
    last = ids.decode(made[-1])
    assert (last.ms, last.sequence, last.worker_id) == (T0 + 1, 0, 5)
    assert next(calls) == per_ms + 1 + spins + 2  # it kept reading the clock until it moved
    assert all(x < y for x, y in itertools.pairwise(made))


def test_small_clock_step_back_waits_and_never_repeats() -> None:
    slept: list[float] = []
    clock = scripted_clock(T0, T0, T0 + 5, T0 + 2, T0 + 3, T0 + 4, T0 + 5, T0 + 5, T0 + 6)
    generator = ids.SnowflakeGenerator(9, clock=clock, sleep=slept.append)
    made = [generator.next_id() for _ in range(6)]
    assert [ids.decode(v)[1:3] for v in made] == [(9, 0), (9, 1), (9, 0), (9, 1), (9, 2), (9, 0)]
    assert [ids.decode(v).ms - T0 for v in made] == [0, 0, 5, 5, 5, 6]
    assert slept == [0.003, 0.002, 0.001]  # waited for the clock to come back to T0 + 5
    assert all(x < y for x, y in itertools.pairwise(made))


def test_step_back_of_exactly_max_backwards_waits() -> None:
    slept: list[float] = []
    clock = scripted_clock(T0, T0 - 4, T0 + 1)
    generator = ids.SnowflakeGenerator(1, clock=clock, sleep=slept.append, max_backwards_ms=4)
    first, second = generator.next_id(), generator.next_id()
    assert second > first
    assert slept == [0.004]


def test_large_clock_step_back_raises() -> None:
    clock = scripted_clock(T0, T0 - 11, T0 - 11, T0, T0 + 1)
    generator = ids.SnowflakeGenerator(2, clock=clock, sleep=_no_sleep)
    first = generator.next_id()
    with pytest.raises(ids.ClockMovedBackwards) as info:
        generator.next_id()
    assert isinstance(info.value, RuntimeError)
    assert (info.value.behind_ms, info.value.max_backwards_ms) == (11, 10)
    with pytest.raises(ids.ClockMovedBackwards):
        generator.next_id()
    # Once the clock is back, ids continue above the last one.
    assert first < generator.next_id() < generator.next_id()


def test_zero_tolerance_raises_on_any_step_back() -> None:
    generator = ids.SnowflakeGenerator(
        2, clock=scripted_clock(T0, T0 - 1), max_backwards_ms=0, sleep=_no_sleep
    )
    generator.next_id()
    with pytest.raises(ids.ClockMovedBackwards):
        generator.next_id()


def test_clock_outside_the_layout_range() -> None:
    before_epoch = ids.SnowflakeGenerator(1, clock=lambda: ids.DEFAULT_EPOCH_MS - 1)
    with pytest.raises(RuntimeError, match="before the layout's epoch"):
        before_epoch.next_id()
    at_epoch = ids.SnowflakeGenerator(1, clock=lambda: ids.DEFAULT_EPOCH_MS)
    assert at_epoch.next_id() == 1 << ids.DEFAULT_LAYOUT.worker_shift
    too_late = ids.SnowflakeGenerator(1, clock=lambda: ids.DEFAULT_LAYOUT.max_ms + 1)
    with pytest.raises(OverflowError):
        too_late.next_id()


# --------------------------------------------------------------------------------------------
# The module default generator
# --------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("fresh_default")
def test_next_id_without_configure_names_configure() -> None:
    assert not ids.is_configured()
    with pytest.raises(RuntimeError, match=r"alvin_python_lib\.ids\.configure"):
        ids.next_id()
    with pytest.raises(ValueError, match="needs a worker_id"):
        ids.configure()


@pytest.mark.usefixtures("fresh_default")
def test_configure_with_a_worker_id() -> None:
    generator = ids.configure(worker_id=5)
    assert ids.is_configured()
    assert ids.default_generator() is generator
    assert ids.decode(ids.next_id()).worker_id == 5
    with pytest.raises(ValueError, match="database's worker id"):
        ids.configure(worker_id=1023)
    with pytest.raises(ValueError, match="database's worker id"):
        ids.configure(worker_id=3, layout=SMALL)
    ids.reset()
    assert not ids.is_configured()


@pytest.mark.usefixtures("fresh_default")
def test_configure_again_with_the_same_worker_never_repeats() -> None:
    ids.configure(worker_id=6)
    made = [ids.next_id() for _ in range(500)]
    ids.configure(worker_id=6)  # a new generator, same worker id, probably same millisecond
    made += [ids.next_id() for _ in range(500)]
    assert all(x < y for x, y in itertools.pairwise(made))


def test_worker_id_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ids.worker_id_from_env(environ={}) is None
    assert ids.worker_id_from_env(environ={"WORKER_ID": " "}) is None
    assert ids.worker_id_from_env(environ={"WORKER_ID": " 1022 "}) == 1022
    assert ids.worker_id_from_env(SMALL, environ={"WORKER_ID": "2"}) == 2
    for bad, error in (("1023", "0..1022"), ("-1", "0..1022"), ("seven", "not an integer")):
        with pytest.raises(ValueError, match=error):
            ids.worker_id_from_env(environ={"WORKER_ID": bad})
    with pytest.raises(ValueError, match=r"0\.\.2"):
        ids.worker_id_from_env(SMALL, environ={"WORKER_ID": "3"})
    monkeypatch.setenv("WORKER_ID", "17")
    assert ids.worker_id_from_env() == 17


@pytest.mark.usefixtures("fresh_default")
def test_configure_precedence(monkeypatch: pytest.MonkeyPatch, db_engine: Engine) -> None:
    monkeypatch.setenv("WORKER_ID", "12")
    assert ids.configure().worker_id == 12
    assert ids.configure(worker_id=4).worker_id == 4  # explicit beats the environment
    assert ids.configure(engine=db_engine).worker_id == 12  # the environment beats leasing
    assert ids_default._state.leased is None
    monkeypatch.setenv("WORKER_ID", "1023")
    with pytest.raises(ValueError, match="WORKER_ID"):
        ids.configure(engine=db_engine)


@pytest.mark.usefixtures("fresh_default")
def test_configure_with_an_engine_leases(db_engine: Engine) -> None:
    generator = ids.configure(engine=db_engine)
    leased = ids_default._state.leased
    assert leased is not None
    lease = leased.lease
    assert lease.is_held()
    assert generator.worker_id == lease.worker_id != 1023
    assert ids.decode(ids.next_id()).worker_id == lease.worker_id
    ids.reset()
    assert not lease.held
    assert lock_is_free(db_engine, ids.LEASE_NAMESPACE, lease.worker_id)


def test_the_plugins_generator_is_the_leased_default(
    id_generator: ids.SnowflakeGenerator, db_engine: Engine
) -> None:
    assert id_generator is ids.default_generator()
    assert id_generator.worker_id != 1023
    assert not lock_is_free(db_engine, ids.LEASE_NAMESPACE, id_generator.worker_id)
    assert ids.decode(id_generator.next_id()).worker_id == id_generator.worker_id


def _in_child(body: Callable[[], str]) -> str:
    """Run ``body`` in a forked child; return what it returned (or its exception)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 0
        try:
            os.close(read_end)
            try:
                answer = body()
            except BaseException as exc:
                answer = f"{type(exc).__name__}: {exc}"
            os.write(write_end, answer.encode())
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        answer = pipe.read().decode()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return answer


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.usefixtures("fresh_default")
def test_forked_child_leases_its_own_worker_id(db_engine: Engine) -> None:
    parent = ids.configure(engine=db_engine)
    leased = ids_default._state.leased
    assert leased is not None
    parent_lease = leased.lease

    def child() -> str:
        worker = ids.decode(ids.next_id()).worker_id  # leases again on first use
        # Finalising the inherited lease connection must not end the parent's session.
        assert not parent_lease.held
        parent_lease.release()
        for connection in ids_lease._orphaned_connections:
            connection.close()  # type: ignore[attr-defined]
        return str(worker)

    child_worker = int(_in_child(child))
    assert child_worker not in (parent.worker_id, 1023)
    assert parent_lease.is_held()  # the parent's lock survived the child
    assert ids.decode(ids.next_id()).worker_id == parent.worker_id
    assert lock_is_free(db_engine, ids.LEASE_NAMESPACE, child_worker)  # the child's ended


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.usefixtures("fresh_default")
def test_forked_child_refuses_the_parents_fixed_worker_id() -> None:
    ids.configure(worker_id=8)
    ids.next_id()

    def child() -> str:
        with pytest.raises(RuntimeError, match="forked"):
            ids.next_id()
        return str(ids.configure(worker_id=9).worker_id)

    assert _in_child(child) == "9"
    assert ids.decode(ids.next_id()).worker_id == 8


# --------------------------------------------------------------------------------------------
# Worker leases
# --------------------------------------------------------------------------------------------


def test_two_leases_get_different_slots(db_engine: Engine, namespace: int) -> None:
    with (
        ids.lease_worker_id(db_engine, namespace=namespace, environ={}) as first,
        ids.WorkerLease(db_engine, namespace=namespace, environ={}) as second,
    ):
        assert first.worker_id != second.worker_id
        assert {first.worker_id, second.worker_id} <= set(range(1023))
        assert (first.held, second.held, first.is_held(), second.is_held()) == (True,) * 4
        assert not first.from_env
        assert not lock_is_free(db_engine, namespace, first.worker_id)
    assert (first.held, first.is_held()) == (False, False)
    assert lock_is_free(db_engine, namespace, first.worker_id)
    assert lock_is_free(db_engine, namespace, second.worker_id)


def test_release_frees_the_slot_and_is_idempotent(db_engine: Engine, namespace: int) -> None:
    lease = ids.lease_worker_id(db_engine, SMALL, namespace=namespace, environ={})
    slot = lease.worker_id
    assert not lock_is_free(db_engine, namespace, slot)
    lease.release()
    lease.release()
    assert lock_is_free(db_engine, namespace, slot)
    again = [ids.lease_worker_id(db_engine, SMALL, namespace=namespace, environ={}) for _ in "abc"]
    try:
        assert slot in {lease.worker_id for lease in again}  # the freed slot is leasable again
    finally:
        for lease in again:
            lease.release()


def test_exhausting_the_slots_and_the_database_slot_is_never_leased(
    db_engine: Engine, namespace: int
) -> None:
    leases: list[ids.WorkerLease] = []
    try:
        for _ in range(3):
            leases.append(ids.lease_worker_id(db_engine, SMALL, namespace=namespace, environ={}))
        assert sorted(lease.worker_id for lease in leases) == [0, 1, 2]
        with pytest.raises(ids.NoWorkerSlotAvailable, match="all 3 worker slots"):
            ids.lease_worker_id(db_engine, SMALL, namespace=namespace, environ={})
        assert lock_is_free(db_engine, namespace, SMALL.database_worker_id)
        leases.pop().release()
        leases.append(ids.lease_worker_id(db_engine, SMALL, namespace=namespace, environ={}))
    finally:
        for lease in leases:
            lease.release()


def test_random_start_spreads_the_first_free_slot(db_engine: Engine, namespace: int) -> None:
    seen = set()
    for _ in range(12):
        with ids.lease_worker_id(db_engine, SMALL, namespace=namespace, environ={}) as lease:
            seen.add(lease.worker_id)
    assert seen <= {0, 1, 2}
    assert len(seen) > 1


def test_worker_id_env_overrides_leasing(
    monkeypatch: pytest.MonkeyPatch, db_engine: Engine, namespace: int
) -> None:
    monkeypatch.setenv("WORKER_ID", "42")
    with ids.lease_worker_id(db_engine, namespace=namespace) as lease:
        assert (lease.worker_id, lease.from_env, lease.held, lease.is_held()) == (
            42,
            True,
            False,
            False,
        )
        assert lock_is_free(db_engine, namespace, 42)
    monkeypatch.setenv("WORKER_ID", "1023")
    with pytest.raises(ValueError, match="database's worker id"):
        ids.lease_worker_id(db_engine, namespace=namespace)
    monkeypatch.setenv("WORKER_ID", "")
    with ids.lease_worker_id(db_engine, namespace=namespace) as lease:
        assert lease.held
        assert not lease.from_env


def test_lease_validates_the_namespace(db_engine: Engine) -> None:
    with pytest.raises(ValueError, match="32-bit"):
        ids.WorkerLease(db_engine, namespace=2**31, environ={})


# --------------------------------------------------------------------------------------------
# Leased generators (owned by a composition root)
# --------------------------------------------------------------------------------------------


def test_leased_generator_holds_its_worker_id_until_closed(
    db_engine: Engine, namespace: int
) -> None:
    with ids.lease_generator(db_engine, SMALL, namespace=namespace, environ={}) as generator:
        assert isinstance(generator, ids.IdGenerator)
        worker_id = generator.worker_id
        assert worker_id in {0, 1, 2}
        assert generator.lease.is_held()
        assert not lock_is_free(db_engine, namespace, worker_id)
        made = [generator.next_id() for _ in range(2_000)]
        assert all(x < y for x, y in itertools.pairwise(made))
        assert {ids.decode(v, SMALL).worker_id for v in made} == {worker_id}
    assert generator.closed
    # close() waited for the next millisecond: whoever leases the slot next cannot repeat an id
    assert ids.decode(made[-1], SMALL).ms < time.time_ns() // 1_000_000
    assert lock_is_free(db_engine, namespace, worker_id)
    generator.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        generator.next_id()


def test_leased_generators_get_different_worker_ids(db_engine: Engine, namespace: int) -> None:
    generators = [
        ids.LeasedGenerator(db_engine, SMALL, namespace=namespace, environ={}) for _ in "abc"
    ]
    try:
        assert sorted(g.worker_id for g in generators) == [0, 1, 2]
        with pytest.raises(ids.NoWorkerSlotAvailable):
            ids.lease_generator(db_engine, SMALL, namespace=namespace, environ={})
    finally:
        for generator in generators:
            generator.close()


def test_leased_generator_takes_worker_id_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, db_engine: Engine, namespace: int
) -> None:
    monkeypatch.setenv("WORKER_ID", "42")
    with ids.lease_generator(db_engine, namespace=namespace) as generator:
        assert (generator.worker_id, generator.lease.from_env) == (42, True)
        assert ids.decode(generator.next_id()).worker_id == 42
        assert lock_is_free(db_engine, namespace, 42)


def test_leased_generator_passes_the_clock_on(db_engine: Engine, namespace: int) -> None:
    clock = scripted_clock(T0, T0 - 5)
    with ids.lease_generator(
        db_engine, namespace=namespace, environ={}, clock=clock, max_backwards_ms=2
    ) as generator:
        assert ids.decode(generator.next_id()).ms == T0
        with pytest.raises(ids.ClockMovedBackwards):
            generator.next_id()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_leased_generator_in_a_forked_child_leases_its_own(
    db_engine: Engine, namespace: int
) -> None:
    with ids.lease_generator(db_engine, namespace=namespace, environ={}) as generator:
        parent_id = generator.worker_id

        def child() -> str:
            worker = ids.decode(generator.next_id()).worker_id
            generator.close()  # frees the child's lease only
            return str(worker)

        child_id = int(_in_child(child))
        assert child_id not in (parent_id, 1023)
        assert generator.lease.is_held()  # the parent's lock survived the child
        assert generator.worker_id == parent_id
        assert ids.decode(generator.next_id()).worker_id == parent_id
        assert lock_is_free(db_engine, namespace, child_id)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_leased_generator_in_a_forked_child_refuses_a_fixed_worker_id(
    monkeypatch: pytest.MonkeyPatch, db_engine: Engine, namespace: int
) -> None:
    monkeypatch.setenv("WORKER_ID", "43")
    with ids.lease_generator(db_engine, namespace=namespace) as generator:

        def child() -> str:
            with pytest.raises(RuntimeError, match="forked"):
                generator.next_id()
            return "refused"

        assert _in_child(child) == "refused"
        assert ids.decode(generator.next_id()).worker_id == 43


def test_processes_with_leased_worker_ids_never_collide(
    database_url: str, namespace: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """4 processes x 4 threads, 200,000 ids per process, each process leasing its worker id."""
    processes, threads, per_thread = 4, 4, 50_000
    monkeypatch.syspath_prepend(str(Path(__file__).parent))  # spawn children import _ids_worker
    ctx = multiprocessing.get_context("spawn")
    all_leased = ctx.Barrier(processes)
    results = ctx.Queue()
    children = [
        ctx.Process(
            target=lease_and_generate,
            args=(database_url, namespace, threads, per_thread, all_leased, results),
        )
        for _ in range(processes)
    ]
    for child in children:
        child.start()
    try:
        outputs = []
        for _ in children:
            try:
                outputs.append(results.get(timeout=120))
            except queue.Empty:
                pytest.fail("a generating process did not report")
    finally:
        for child in children:
            child.join(timeout=30)
            if child.is_alive():  # pragma: no cover
                child.kill()
    failures = [out for out in outputs if out[1] == -1]
    assert not failures, failures
    workers = [worker for _, worker, _ in outputs]
    assert len(set(workers)) == processes
    assert 1023 not in workers
    every_id: set[int] = set()
    for _, worker, thread_results in outputs:
        assert check_real_time_order(thread_results) == threads * per_thread
        process_ids = array("q")
        for raw_ids, _, _ in thread_results:
            process_ids.frombytes(raw_ids)
        assert {ids.decode(v).worker_id for v in process_ids[::997]} == {worker}
        every_id.update(process_ids)
    assert len(every_id) == processes * threads * per_thread  # 800,000: no duplicate anywhere
    assert all(child.exitcode == 0 for child in children)


# --------------------------------------------------------------------------------------------
# PostgreSQL next_id() and SQLAlchemy
# --------------------------------------------------------------------------------------------


def _assert_database_ids(
    values: list[int], layout: ids.SnowflakeLayout = ids.DEFAULT_LAYOUT
) -> None:
    assert len(set(values)) == len(values)
    assert values == sorted(values)
    now = datetime.now(timezone.utc)
    for value in (values[0], values[-1]):
        decoded = ids.decode(value, layout)
        assert decoded.worker_id == layout.database_worker_id
        assert abs(decoded.timestamp - now) < timedelta(seconds=10)


def test_sql_function_from_raw_sql(db_engine: Engine, schema: str) -> None:
    sql = ids.next_id_function_sql(schema=schema)
    assert "CREATE OR REPLACE FUNCTION" in sql
    assert "clock_timestamp()" in sql
    with db_engine.begin() as conn:
        conn.exec_driver_sql(sql)
        conn.exec_driver_sql(sql)  # idempotent
    with db_engine.connect() as conn:
        # Far more than 1024 ids in a few milliseconds: still unique and increasing.
        values = list(
            conn.scalars(text(f'SELECT "{schema}".next_id() FROM generate_series(1, 5000)'))
        )
        values += [conn.scalar(text(f'SELECT "{schema}".next_id()')) for _ in range(20)]
        # The function holds no lock after it returns.
        held = conn.scalar(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
            )
        )
        assert held == 0
        conn.rollback()
    _assert_database_ids(values)
    with db_engine.begin() as conn:
        conn.exec_driver_sql(ids.drop_next_id_function_sql(schema=schema))
        assert conn.scalar(text(f"SELECT to_regprocedure('\"{schema}\".next_id()')")) is None


def test_sql_function_ids_from_concurrent_sessions_are_unique(
    db_engine: Engine, schema: str
) -> None:
    import threading

    with db_engine.begin() as conn:
        conn.exec_driver_sql(ids.next_id_function_sql(schema=schema))
    made: list[int] = []

    def session() -> None:
        with db_engine.connect() as conn:
            got = list(
                conn.scalars(text(f'SELECT "{schema}".next_id() FROM generate_series(1, 500)'))
            )
            conn.commit()
        made.extend(got)

    workers = [threading.Thread(target=session) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(set(made)) == len(made) == 2000


def test_sql_function_with_another_layout(db_engine: Engine, schema: str) -> None:
    with db_engine.begin() as conn:
        conn.exec_driver_sql(ids.next_id_function_sql(SMALL, schema=schema))
        values = list(
            conn.scalars(text(f'SELECT "{schema}".next_id() FROM generate_series(1, 100)'))
        )
    _assert_database_ids(values, SMALL)
    assert ids.decode(values[0], SMALL).worker_id == 3
    with pytest.raises(ValueError, match="worker_id"):
        ids.next_id_function_sql(SMALL, worker_id=4)


def test_alembic_helpers(db_engine: Engine, schema: str) -> None:
    from alembic.migration import MigrationContext
    from alembic.operations import Operations

    with db_engine.begin() as conn:
        op = Operations(MigrationContext.configure(conn))
        ids.create_next_id(op, schema=schema)
        first = conn.scalar(text(f'SELECT "{schema}".next_id()'))
        assert first is not None
        assert ids.decode(first).worker_id == 1023
        ids.drop_next_id(op, schema=schema)
        assert conn.scalar(text(f"SELECT to_regprocedure('\"{schema}\".next_id()')")) is None
        assert conn.scalar(text(f"SELECT to_regclass('\"{schema}\".next_id_seq')")) is None


def test_alembic_is_not_imported_by_the_package() -> None:
    modules = sorted(Path(ids.__file__).parent.glob("*.py"))
    assert len(modules) > 1
    for module in modules:
        source = module.read_text()
        assert "import alembic" not in source, module.name
        assert "from alembic" not in source, module.name


@pytest.mark.usefixtures("fresh_default")
def test_snowflake_pk_column() -> None:
    column = ids.snowflake_pk().column
    assert isinstance(column.type, BigInteger)
    assert column.primary_key
    assert column.autoincrement is False
    assert isinstance(column.default, CallableColumnDefault)
    ids.configure(worker_id=13)
    assert ids.decode(column.default.arg(cast(Any, None))).worker_id == 13  # calls ids.next_id
    assert isinstance(column.server_default, DefaultClause)
    assert str(column.server_default.arg) == "next_id()"
    qualified = ids.snowflake_pk(schema="app").column
    assert isinstance(qualified.server_default, DefaultClause)
    assert str(qualified.server_default.arg) == '"app".next_id()'
    assert ids.snowflake_pk(server_default=False).column.server_default is None
    assert ids.snowflake_pk(python_default=False).column.default is None


@pytest.mark.usefixtures("fresh_default")
def test_table_gets_ids_from_the_orm_and_from_plain_sql(db_engine: Engine, schema: str) -> None:
    class Base(DeclarativeBase):
        metadata = MetaData(schema=schema)

    class Thing(Base):
        __tablename__ = "things"
        id: Mapped[int] = ids.snowflake_pk(schema=schema)
        name: Mapped[str | None] = mapped_column(String(20))

    ids.install_next_id(Base.metadata, schema=schema)  # create_all installs next_id() first
    Base.metadata.create_all(db_engine)
    ids.configure(worker_id=7)
    with Session(db_engine) as session:
        session.add_all([Thing(name="a"), Thing(name="b")])
        session.commit()
        orm_ids = list(session.scalars(select(Thing.id).order_by(Thing.id)))
    with db_engine.begin() as conn:
        sql_id = conn.scalar(text(f'INSERT INTO "{schema}".things DEFAULT VALUES RETURNING id'))
        named = conn.scalar(
            text(f"INSERT INTO \"{schema}\".things (name) VALUES ('c') RETURNING id")
        )
    assert [ids.decode(v).worker_id for v in orm_ids] == [7, 7]
    assert sql_id is not None
    assert named is not None
    assert ids.decode(sql_id).worker_id == ids.decode(named).worker_id == 1023
    assert orm_ids[-1] < sql_id < named
